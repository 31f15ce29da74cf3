/** The bare workflow's one activity: returns at once, so what is measured is Temporal's round trips. */
export function createBareActivities() {
  return {
    async step(name: string): Promise<string> {
      return name;
    },
  };
}

export type BareActivities = ReturnType<typeof createBareActivities>;
