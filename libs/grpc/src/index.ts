export * from './auth';
export * from './config';
export * from './tls';
export * from './peer';
export * from './errors';
export type {
  Authenticate,
  BidiStreamHandler,
  CallContext,
  ServerStreamHandler,
  ServiceHandlers,
  SurfaceCall,
  UnaryHandler,
} from './handlers';
export { UndecodableMessageError } from './handlers';
export * from './logger';
export * from './principal';
export { Metrics, type MetricsOptions, type TfjsMemory } from './metrics';
export { FILE_DESCRIPTOR_SET, HEALTH_SERVICE } from './reflection';
export * from './server';
export { pollUntil, spawnServiceProcess, type ServiceProcess } from './service-process';
export { runMain, serviceMain, type ServeIo, type ServeMain, type ServiceMainSpec } from './service-main';
export {
  buildPackage,
  callFailure,
  collectStream,
  firstMessage,
  hostileFailure,
  memoryLogger,
  residentBytes,
  settledGrowth,
  type HostileCase,
  wire,
} from './testing';
export { makeCa, makeCert, type PemPair } from './test-pki';
export {
  channelCredentials,
  createClient,
  isServiceError,
  type ClientTls,
  type CallOptions,
  type ClientOptions,
  type PromiseClient,
  type ServiceMethods,
} from './client';
export * from './endpoints';
export {
  checkHealth,
  healthClient,
  waitForServing,
  type HealthClient,
  type WaitForServingOptions,
} from './health';
export { startFakeService, type FakeService } from './fake-service';
export { histogramMean, sampleValue, scrapeLocalMetrics, scrapeMetrics } from './prometheus';
