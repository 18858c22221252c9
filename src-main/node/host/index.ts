/** @file Public surface of the host: the services behind the contract and the browser-mode server. Never imports Electron. */
export { createStudioHost, appVersion, type StudioHost, type StudioHostOptions } from './host.ts';
export { startWebHost, RENDERER_DIST, type WebHost, type WebHostOptions } from './web.ts';
export { webSocketTransport } from './ws-transport.ts';
export { contentSecurityPolicy } from './csp.ts';
export { bundledExamples, UnknownModelError, MODEL_CALL_TIMEOUT_MS } from './models.ts';
export { graphView, checkTargets } from './model-work.ts';
export { OffLoopTimeoutError, OffLoopGoneError } from './off-loop.ts';
export { layerWidths, widthDiff } from './layers.ts';
export { planIssues } from './runs.ts';
export type { Dialogs } from './settings.ts';
