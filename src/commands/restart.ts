import type { CAC } from 'cac';

export function registerRestart(_cli: CAC): void {}
