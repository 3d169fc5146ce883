import type { CAC } from 'cac';

/** `xopc gateway logs`: being written (issue 2, logging part). */
export function registerLogs(_cli: CAC): void {}
