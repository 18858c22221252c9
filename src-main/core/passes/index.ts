/** @file Graph passes over the IR. Pure TypeScript. */
export * from './pass.ts';
export { liftConstants, constantValue } from './lift-constants.ts';
export { deadCode } from './dead-code.ts';
