/** @file Public surface of the IR. Pure TypeScript: no Node, ORT, protobuf or compression concepts. */
export * from './dtype.ts';
export * from './tensor.ts';
export * from './graph.ts';
export * from './errors.ts';
export { cloneModel, sliceModel, type SliceOptions } from './clone.ts';
export { printGraph, printModel } from './printer.ts';
