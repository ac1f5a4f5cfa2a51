// The daemon's one face to the CLI: run it in the foreground, take socket-activation fds before
// anything else opens one, and ask the kernel what a reload can rely on (doctor).
export { runDaemon } from './run.js';
export { takeActivationFds } from './sockets/activation.js';
export { LosslessUnavailable, probeSteering, readMigrateReq, resolveLossless } from './sockets/lossless.js';
