import type { CAC } from 'cac';

export function registerRun(_cli: CAC): void {}
