/** A process warning as a test sees it. */
export interface SeenWarning {
  code: string | undefined;
  message: string;
}

/**
 * Records the process warnings emitted from now until `stop()`. Warnings are
 * delivered on a later tick, so `stop()` first lets the event loop turn.
 */
export function captureWarnings(): { seen: SeenWarning[]; stop(): Promise<SeenWarning[]> } {
  const seen: SeenWarning[] = [];
  const listener = (warning: Error & { code?: string }): void => {
    seen.push({ code: warning.code, message: warning.message });
  };
  process.on('warning', listener);
  return {
    seen,
    stop: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      process.off('warning', listener);
      return seen;
    },
  };
}
