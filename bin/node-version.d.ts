/** Types of node-version.js (plain JavaScript, so that old Node versions can parse it). */
export declare const SUPPORTED: string;
export declare function nodeProblem(version: string): string | undefined;
