/**
 * One line for an error answer of the gateway's API, as the CLI prints it. Most codes
 * speak for themselves (`CODE: message`); a lockout is spelled out, because the user's
 * own command is refused with the right token and needs to know why and what to do.
 */
export function describeApiError(status: number, body: unknown, retryAfter: string | null): string {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof error?.code === 'string' ? error.code : null;
  const message = typeof error?.message === 'string' ? error.message : '';
  if (status === 429 && code === 'RATE_LIMITED') {
    const wait = retryAfter && /^\d+$/.test(retryAfter) ? `${retryAfter} s` : 'a few minutes';
    return (
      `RATE_LIMITED: the gateway has locked this address out for ${wait} after repeated failed authentication ` +
      '(wrong tokens or bad webhook signatures), and refuses every /api request from it until then, even with the right token. ' +
      'Check the token with `xopc gateway token` and what else on this machine or behind your proxy calls the gateway; ' +
      'the gateway log has a warning naming the address.'
    );
  }
  if (code) return `${code}: ${message}`;
  return `The gateway answered HTTP ${status}`;
}
