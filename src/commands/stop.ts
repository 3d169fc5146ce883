import type { CAC } from 'cac';

export function registerStop(_cli: CAC): void {}
