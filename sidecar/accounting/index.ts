/**
 * The accounting area's surface: exact money, the cost formula, worst-case estimates and UTC
 * periods. Pure (no I/O); stores live in `sidecar/store`, budget state in `sidecar/state`.
 */
export * from './decimal.ts';
export * from './cost.ts';
export * from './periods.ts';
export * from './alerts.ts';
