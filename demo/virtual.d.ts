/** The build's summary of every results/DIR/results.json (vite.config.ts, paperResults), by DIR. */
declare module 'virtual:paper-results' {
  const sets: Record<
    string,
    {
      preset: string;
      target: string;
      seeds: number[];
      runs: number;
      seconds: number;
      settings: Record<string, string>;
      verdicts: unknown[];
      /** Pooled by `paper --merge`: from this many runs. */
      pooledFrom?: number;
    }
  >;
  export default sets;
}
