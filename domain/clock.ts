/** Where domain code gets the time: injected, so tests and workflows can control it. */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();
