import type { CAC } from 'cac';

export function registerStatus(_cli: CAC): void {}
