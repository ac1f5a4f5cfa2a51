// The daemon's one face to the CLI: run it in the foreground, take socket-activation fds before
// anything else opens one, and ask the kernel what a reload can rely on (doctor): lossless
// mechanisms, and how a warming worker's priority is lowered.
export { runDaemon } from './run.js';
export { takeActivationFds } from './sockets/activation.js';
export { LosslessUnavailable, probeSteering, readMigrateReq, resolveLossless } from './sockets/lossless.js';
export { choosePriorityMechanism, cgroupWeightNote } from './process/priority.js';
export { readSchedulingFacts } from './process/scheduling-facts.js';
export { agingSteps } from './process/priority-aging.js';
export { agingPlan } from './generation/warming.js';
export { takeHandover } from './upgrade/adopt.js';
export { parseHandover } from './upgrade/state.js';
