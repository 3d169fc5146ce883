/** GET /health of a gateway bound to host:port, with a bounded timeout; null when nothing answers. */
export async function probeHealth(host: string, port: number, timeoutMs = 1500): Promise<{ status: string; uptime: number; pid?: number; workerPid?: number } | null> {
  const probeHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = `http://${probeHost.includes(':') ? `[${probeHost}]` : probeHost}:${port}/health`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return null;
    return (await res.json()) as { status: string; uptime: number };
  } catch {
    return null;
  }
}
