/** @file Public surface of the IPC contract: services, DTO schemas, wire, client, server and errors. Pure TypeScript; never Node, DOM or Electron. */
export * from './contract.ts';
export * from './dto.ts';
export * from './errors.ts';
export * from './rpc.ts';
export { Listeners } from './listeners.ts';
export { CHANNEL, ELECTRON_ORIGIN, urlOrigin } from './channel.ts';
