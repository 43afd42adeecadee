/** Types of bin/build.mjs for the TypeScript tests that import it. */
export declare const SOURCE_PATHS: string[];
export declare function newestSourceTime(root?: string, paths?: string[]): number;
export declare function isFresh(outdir?: string): boolean;
export declare function build(options?: { outdir?: string }): Promise<void>;
