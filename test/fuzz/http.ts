import http from 'node:http';

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string | string[]>;
  /** Sent as is; without a content-length header a body goes chunked. */
  body?: string | Buffer;
  /** Send the body chunked, without a length (the server learns its size only by reading it). */
  chunked?: boolean;
}

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP request as a hostile client sends it: headers and bytes exactly as given (no JSON
 * encoding, no content type added). A server that closes the connection while the body is still
 * being sent (as for an oversized body) has answered: its answer is kept.
 */
export function rawRequest(baseUrl: string, request: RawRequest): Promise<RawAnswer> {
  const url = new URL(baseUrl);
  const body = typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : request.body;
  const headers = { ...request.headers };
  if (body && !request.chunked && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    let answered: RawAnswer | undefined;
    const outgoing = http.request({ host: url.hostname, port: url.port, method: request.method, path: request.path, headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        answered = { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') };
        resolve(answered);
      });
      response.on('error', reject);
    });
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      // The server answered and closed while we were still writing: the answer stands.
      if (answered) return;
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') setTimeout(() => answered ?? reject(error), 1_000);
      else reject(error);
    });
    if (body && request.chunked) {
      for (let at = 0; at < body.length; at += 16 * 1024) outgoing.write(body.subarray(at, at + 16 * 1024));
      outgoing.end();
    } else {
      outgoing.end(body);
    }
  });
}
