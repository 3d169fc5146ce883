import type { CAC } from 'cac';

/** `xopc gateway install | service-start | service-status | uninstall`: being written (issue 6). */
export function registerService(_cli: CAC): void {}
