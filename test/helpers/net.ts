import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';

/** A port that was free a moment ago (bind 0, read, close). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A separate process listening on 127.0.0.1:port (a "foreign" program holding the port). */
export async function foreignListener(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer(s => s.end()).listen(${port}, '127.0.0.1', () => console.log('listening'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`listener exited ${code}`)));
  });
  return child;
}

/** Sends raw bytes and collects everything the server answers until it closes the socket. */
export function rawRequest(port: number): { socket: net.Socket; response: Promise<string>; closed: Promise<{ error: string | null }> } {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (data += chunk));
  const closed = new Promise<{ error: string | null }>((resolve) => {
    let error: string | null = null;
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => resolve({ error }));
  });
  return { socket, response: closed.then(() => data), closed };
}
