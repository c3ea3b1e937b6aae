/** How each token is chosen: the GPU sampler's settings, for the model's users. */
export { GREEDY, type SamplingParams } from "../gpu/sampling_params.ts";
