// repod-rx/operators: RxJS operators for netcode, on the streams of either entry point. Pure
// RxJS, no Node module: a page that does not import this entry point pays nothing for it. A test
// bundles this file for the browser and fails on any Node import.

// Filtering
export { ofAction } from "./operators/of-action.js";
export type {
  ActionName,
  ActionTag,
  CarriedMessage,
  ChannelPair,
  NarrowedMessage,
  WithAction,
} from "./operators/of-action.js";

// Server clock
export { serverClock } from "./operators/server-clock.js";
export type { ClockEstimate, ServerClockOptions } from "./operators/server-clock.js";
export type { ClockSample } from "./connections/connection.js";

// Snapshot interpolation
export { interpolate } from "./operators/interpolate.js";
export type { InterpolatedFrame, InterpolateOptions, TimedSnapshot } from "./operators/interpolate.js";
export { distance, lerp, lerpAngle } from "./operators/lerp.js";

// Client-side prediction
export { numberInputs, predict } from "./operators/predict.js";
export type { AuthoritativeState, NumberedInput, PredictOptions } from "./operators/predict.js";

// Development
export { simulateLatency } from "./operators/simulate-latency.js";
export type { LagOptions, LatencyOptions } from "./operators/simulate-latency.js";
