/**
 * @file The job worker of the packaged app (an Electron utility process): registers the product's step executors
 * and measurement, then starts the runner's worker. Bundled to dist/electron/worker.js.
 */
import '../node/steps/register.ts';
import '../node/jobs/worker.ts';
