import type net from 'node:net';

/**
 * Tracks a proxied connection's two sockets in `sockets` (so the proxy can cut them all), and
 * closes both when either fails.
 */
export function trackPair(sockets: Set<net.Socket>, client: net.Socket, upstream: net.Socket): void {
  for (const socket of [client, upstream]) {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {
      client.destroy();
      upstream.destroy();
    });
  }
}
