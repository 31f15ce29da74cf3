import net from 'node:net';

export interface Balancer {
  port: number;
  close(): Promise<void>;
}

/**
 * A TCP load balancer in front of the API instances, as a deployment has one: each connection goes
 * to the next instance in turn, and to the one after when that one refuses (it was killed). A
 * request in flight on an instance that dies loses its connection, as it would behind a real one.
 */
export async function startBalancer(host: string, port: number, backends: number[]): Promise<Balancer> {
  let next = 0;
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const connect = (client: net.Socket, tries: number) => {
    const backend = backends[next++ % backends.length]!;
    const upstream = net.connect(backend, host);
    track(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      upstream.pipe(client);
      client.pipe(upstream);
      client.resume();
    });
    upstream.once('error', () => {
      if (!connected && tries > 1 && !client.destroyed) connect(client, tries - 1);
      else client.destroy();
    });
    upstream.once('close', () => connected && client.destroy());
  };
  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    track(client);
    client.once('error', () => undefined);
    client.once('close', () => undefined);
    connect(client, backends.length * 2);
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
