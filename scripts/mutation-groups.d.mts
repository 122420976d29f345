/** A group of `npm run mutate`: the files it mutates and the specs (names under spec/) that test them. */
export interface MutationGroup {
  readonly name: string;
  readonly mutate: readonly string[];
  readonly specs: readonly string[];
}

/** The groups `npm run mutate` measures, in order. */
export declare const GROUPS: readonly MutationGroup[];
