/** Loopback fake upstreams for adapter, conformance and end-to-end tests (see sidecar/providers/README.md). */
export { startFakeUpstream, loadChunks, loadJson } from './fake-upstream.ts';
export type { FakeCall, FakeScript, FakeStep, FakeUpstream, JsonStep, StreamStep, ResetStep, HangStep, StreamFraming } from './fake-upstream.ts';
export { startFakeOpenAI, openAIFixture, openAIStream, openAIError } from './fake-openai.ts';
export { startFakeAnthropic, anthropicFixture, anthropicStream, anthropicError } from './fake-anthropic.ts';
export { startFakeGemini, geminiFixture, geminiStream, geminiError } from './fake-gemini.ts';
