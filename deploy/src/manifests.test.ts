// `make deploy-check`: every overlay rendered with `kubectl kustomize` and read as a reviewer
// would: probes on the ports the Services name, ports and configuration the services accept,
// images of this version, nobody running as root, a GPU where the GPU overlay says, and the
// evaluators' port closed to all but the search service.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadAll } from 'js-yaml';
import { SERVICE_ENDPOINTS } from '@rnas/grpc';
import { loadInferenceConfig } from '@rnas/inference';
import { loadSearchServiceConfig } from '@rnas/search-service';
import { loadTrainingServiceConfig } from '@rnas/training-service';

const ROOT = path.resolve(__dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;
const OVERLAYS = ['cpu', 'gpu', 'cpu-prometheus', 'gpu-prometheus'] as const;

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped YAML */
type Manifest = Record<string, any>;

function render(overlay: string): Manifest[] {
  let text: string;
  try {
    text = execFileSync('kubectl', ['kustomize', path.join(ROOT, 'deploy', 'overlays', overlay)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    throw new Error(
      e.code === 'ENOENT'
        ? 'kubectl is not installed: `make deploy-check` renders the manifests with `kubectl kustomize` (kubectl >= 1.21; .ci/run installs it)'
        : `kubectl kustomize deploy/overlays/${overlay} failed: ${e.stderr ?? e.message}`,
    );
  }
  return (loadAll(text) as Manifest[]).filter((m) => m !== null);
}

/** Which service a container runs: `rnas serve <kind>`. */
function kindOf(container: Manifest): keyof typeof SERVICE_ENDPOINTS {
  const [verb, kind] = container.args as string[];
  expect(verb).toBe('serve');
  expect(Object.keys(SERVICE_ENDPOINTS)).toContain(kind);
  return kind as keyof typeof SERVICE_ENDPOINTS;
}

const workloads = (all: Manifest[]): Manifest[] =>
  all.filter((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet');

const labelsMatch = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe.each(OVERLAYS)('deploy/overlays/%s', (overlay) => {
  let all: Manifest[];
  beforeAll(() => {
    all = render(overlay);
  });

  it('gives every container gRPC health probes on the port its Services name', () => {
    const services = all.filter((m) => m.kind === 'Service');
    expect(workloads(all).length).toBe(4);
    for (const workload of workloads(all)) {
      const pod = workload.spec.template;
      for (const container of pod.spec.containers as Manifest[]) {
        const endpoint = SERVICE_ENDPOINTS[kindOf(container)];
        const ports = Object.fromEntries(
          (container.ports as Manifest[]).map((p) => [p.name, p.containerPort]),
        );
        expect(ports).toEqual({ grpc: endpoint.port, metrics: endpoint.metricsPort });
        expect(container.readinessProbe.grpc).toEqual({ port: endpoint.port, service: endpoint.service });
        expect(container.livenessProbe.grpc.port).toBe(endpoint.port);
        const fronting = services.filter((s) => labelsMatch(s.spec.selector, pod.metadata.labels));
        expect(fronting.length).toBeGreaterThan(0);
        for (const service of fronting) {
          const grpc = (service.spec.ports as Manifest[]).find((p) => p.name === 'grpc');
          expect(grpc?.port).toBe(endpoint.port);
          expect(grpc?.targetPort).toBe('grpc');
        }
      }
    }
  });

  it('configures the services with values they accept, and points them at each other', () => {
    const config = all.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'rnas-config')
      ?.data as Record<string, string>;
    expect(config).toBeDefined();
    // Paths exist in the pod, not here: the rest is checked by the services' own loaders.
    const scratch = mkdtempSync(path.join(tmpdir(), 'rnas-deploy-'));
    try {
      const env = { ...config, RNAS_STATE_DIR: scratch, RNAS_MODEL_REPO: scratch, RNAS_DATA_ROOT: scratch };
      const search = loadSearchServiceConfig([], env);
      const training = loadTrainingServiceConfig([], env);
      const inference = loadInferenceConfig([], env);
      expect(search.host).toBe('0.0.0.0');
      expect([search.port, training.port, inference.port]).toEqual([
        SERVICE_ENDPOINTS.search.port,
        SERVICE_ENDPOINTS.training.port,
        SERVICE_ENDPOINTS.inference.port,
      ]);
      // The search's evaluators: the headless Service of the evaluator pods, on the training port.
      expect(search.evaluators).toEqual([`dns:///rnas-training-headless:${SERVICE_ENDPOINTS.training.port}`]);
      const headless = all.find((m) => m.kind === 'Service' && m.metadata.name === 'rnas-training-headless');
      expect(headless?.spec.clusterIP).toBe('None');
      expect(headless?.spec.selector).toEqual({ 'app.kubernetes.io/name': 'rnas-evaluator' });
      // Training asks the search Service for searches.
      expect(training.searchAddr).toBe(`rnas-search:${SERVICE_ENDPOINTS.search.port}`);
      expect(all.some((m) => m.kind === 'Service' && m.metadata.name === 'rnas-search')).toBe(true);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    for (const workload of workloads(all)) {
      for (const container of workload.spec.template.spec.containers as Manifest[]) {
        expect(container.envFrom).toEqual([{ configMapRef: { name: 'rnas-config' } }]);
      }
    }
  });

  it('runs the image of this version, as nobody but an unprivileged user, with bounded resources', () => {
    const image = overlay.startsWith('gpu') ? `rnas-gpu:${VERSION}` : `rnas:${VERSION}`;
    for (const workload of workloads(all)) {
      const pod = workload.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      for (const container of pod.containers as Manifest[]) {
        expect(container.image).toBe(image);
        expect(container.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(container.securityContext.runAsUser ?? pod.securityContext.runAsUser).not.toBe(0);
        // A read-only root needs a writable /tmp.
        expect((container.volumeMounts as Manifest[]).map((m) => m.mountPath)).toContain('/tmp');
        expect(container.resources.requests.cpu).toBeDefined();
        expect(container.resources.limits.memory).toBeDefined();
      }
    }
  });

  it(`asks for a GPU ${overlay.startsWith('gpu') ? 'for training, the evaluators and inference' : 'nowhere'}`, () => {
    for (const workload of workloads(all)) {
      const gpus = (workload.spec.template.spec.containers as Manifest[]).map(
        (c) => c.resources.limits['nvidia.com/gpu'] as number | undefined,
      );
      const wants = overlay.startsWith('gpu') && workload.metadata.name !== 'rnas-search';
      expect(gpus).toEqual(gpus.map(() => (wants ? 1 : undefined)));
      if (wants) expect(workload.spec.template.spec.tolerations[0].key).toBe('nvidia.com/gpu');
    }
  });

  it("lets only the search service reach the evaluators' gRPC port", () => {
    const policy = all.find((m) => m.kind === 'NetworkPolicy' && m.metadata.name === 'rnas-evaluator');
    expect(policy?.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'rnas-evaluator' });
    const rules = policy?.spec.ingress as Manifest[];
    const grpc = rules.filter((r) =>
      (r.ports as Manifest[]).some((p) => p.port === SERVICE_ENDPOINTS.training.port),
    );
    expect(grpc).toEqual([
      {
        from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'rnas-search' } } }],
        ports: [{ port: SERVICE_ENDPOINTS.training.port, protocol: 'TCP' }],
      },
    ]);
  });

  it('keeps inference available through disruptions and scales inference and the evaluators', () => {
    const pdb = all.find((m) => m.kind === 'PodDisruptionBudget');
    expect(pdb?.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'rnas-inference' });
    const scaled = all
      .filter((m) => m.kind === 'HorizontalPodAutoscaler')
      .map((m) => m.spec.scaleTargetRef.name);
    expect(scaled.sort()).toEqual(['rnas-evaluator', 'rnas-inference']);
  });

  if (overlay.endsWith('prometheus')) {
    it('is found by Prometheus: a ServiceMonitor on the metrics ports, and scrape annotations', () => {
      const monitor = all.find((m) => m.kind === 'ServiceMonitor');
      expect(monitor?.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s' }]);
      for (const workload of workloads(all)) {
        const pod = workload.spec.template;
        const kind = kindOf(pod.spec.containers[0]);
        expect(pod.metadata.annotations).toEqual({
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': String(SERVICE_ENDPOINTS[kind].metricsPort),
          'prometheus.io/path': '/metrics',
        });
      }
    });
  }
});
