import { BlockList, isIP } from 'node:net';
import type Koa from 'koa';

/** Tells whether an address is one of the configured trusted reverse proxies. */
export type ProxyTrust = (address: string) => boolean;

/** `gateway.trustedProxies` (addresses and CIDR ranges, validated by the config schema) as a lookup. */
export function createProxyTrust(entries: readonly string[]): ProxyTrust {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return (address) => {
    const plain = unmapped(address);
    const family = isIP(plain);
    return family !== 0 && list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * The client of a request. The socket's peer, unless that peer is a trusted proxy: then
 * X-Forwarded-For is read from the right (each proxy appends the address it saw), skipping
 * trusted hops; the first untrusted entry is the client. Entries left of it were written
 * by the client itself and could be anything, so they are never used.
 */
export function resolveClient(socketAddress: string, forwardedFor: string | undefined, trusted: ProxyTrust): string {
  const peer = unmapped(socketAddress);
  if (!forwardedFor || !trusted(peer)) return peer;
  const hops = forwardedFor.split(',').map((hop) => unmapped(hop.trim())).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (isIP(hop) === 0) return peer; // Garbage from a proxy we trust: fall back to what we know.
    if (!trusted(hop)) return hop;
  }
  return hops[0] ?? peer;
}

/** 127.0.0.0/8 and ::1 (and their IPv4-mapped forms). */
export function isLoopback(address: string): boolean {
  const plain = unmapped(address);
  return plain === '::1' || /^127\.\d+\.\d+\.\d+$/.test(plain);
}

const FORWARDING_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip'];

/** What later middleware knows about the request's client (ctx.state.client). */
export interface ClientInfo {
  /** The client's address (also set as ctx.request.ip, which the request log and auth read). */
  address: string;
  /**
   * A process on this machine talking to the gateway itself, not a request relayed by a
   * proxy on this machine that is not in gateway.trustedProxies (it would make every
   * outside client look local).
   */
  localDirect: boolean;
}

/** Sets ctx.request.ip to the resolved client and ctx.state.client (see ClientInfo). */
export function createClientAddress(trusted: ProxyTrust): Koa.Middleware {
  return async function clientAddress(ctx, next) {
    const peer = ctx.req.socket.remoteAddress ?? 'unknown';
    const address = resolveClient(peer, ctx.get('x-forwarded-for') || undefined, trusted);
    const relayedByUntrusted = !trusted(unmapped(peer)) && FORWARDING_HEADERS.some((name) => ctx.get(name));
    ctx.request.ip = address;
    ctx.state.client = { address, localDirect: isLoopback(address) && !relayedByUntrusted } satisfies ClientInfo;
    await next();
  };
}

function unmapped(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}
