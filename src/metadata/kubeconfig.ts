/**
 * Connection settings for the Kubernetes API: in-cluster (the pod's service account) or a
 * kubeconfig file (its current context). Supported credentials: bearer token (inline or
 * `tokenFile`), client certificate and key (files or `-data`), basic auth. Exec plugins and
 * auth providers are not supported (they would run programs); `insecure-skip-tls-verify` is
 * refused because Deno's fetch cannot skip verification per client.
 *
 * @module
 */
/** Where and how to reach the API server. */
export interface KubeConnection {
  /** `https://host:port` (or `http://` for tests). */
  server: string;
  /** Fixed bearer token. */
  token?: string;
  /** File re-read for the token (service-account tokens rotate). */
  tokenFile?: string;
  /** CA certificates (PEM) added to the system roots. */
  caPem?: string;
  /** Client certificate and key (PEM). */
  certPem?: string;
  keyPem?: string;
  basicAuth?: { username: string; password: string };
  /** Where the settings came from, for logs. */
  origin: string;
}

/** The default service-account directory of a pod. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** In-cluster settings, or undefined outside a pod. */
export function inClusterConnection(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
  dir = SERVICE_ACCOUNT_DIR,
): KubeConnection | undefined {
  const host = env("KUBERNETES_SERVICE_HOST");
  const port = env("KUBERNETES_SERVICE_PORT");
  if (!host || !port) return undefined;
  const tokenFile = `${dir}/token`;
  try {
    Deno.statSync(tokenFile);
  } catch {
    return undefined;
  }
  let caPem: string | undefined;
  try {
    caPem = Deno.readTextFileSync(`${dir}/ca.crt`);
  } catch {
    caPem = undefined;
  }
  const h = host.includes(":") ? `[${host}]` : host;
  return {
    server: `https://${h}:${port}`,
    tokenFile,
    ...(caPem ? { caPem } : {}),
    origin: "in-cluster",
  };
}

/** The kubeconfig path: `$KUBECONFIG` (first entry) or `~/.kube/config`. */
export function defaultKubeconfigPath(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): string | undefined {
  const fromEnv = env("KUBECONFIG")?.split(":").find((p) => p !== "");
  if (fromEnv) return fromEnv;
  const home = env("HOME");
  return home ? `${home}/.kube/config` : undefined;
}

type Obj = Record<string, unknown>;

function named(list: unknown, name: string, what: string): Obj {
  const item = Array.isArray(list)
    ? (list as Obj[]).find((x) => x && typeof x === "object" && x.name === name)
    : undefined;
  const body = item?.[what];
  if (!body || typeof body !== "object") throw new Error(`kubeconfig: no ${what} named "${name}"`);
  return body as Obj;
}

function str(o: Obj, key: string): string | undefined {
  const v = o[key];
  return typeof v === "string" && v !== "" ? v : undefined;
}

function decodeBase64(s: string): string {
  return new TextDecoder().decode(
    Uint8Array.from(atob(s.replace(/\s+/g, "")), (c) => c.charCodeAt(0)),
  );
}

/** Reads `path` relative to the kubeconfig's directory. */
function readRelative(base: string, path: string): string {
  const full = path.startsWith("/") ? path : `${base.slice(0, base.lastIndexOf("/") + 1)}${path}`;
  return Deno.readTextFileSync(full);
}

/**
 * Settings of the current (or named) context of a kubeconfig file; rejects when unusable. The
 * YAML library is imported here, on first use: it costs ~10 MiB of RSS, and most agents (in a
 * pod, or on a host without Kubernetes) never read a kubeconfig.
 */
export async function kubeconfigConnection(
  path: string,
  context?: string,
): Promise<KubeConnection> {
  const { parse: parseYaml } = await import("yaml");
  const doc = parseYaml(Deno.readTextFileSync(path)) as Obj;
  if (!doc || typeof doc !== "object") throw new Error(`kubeconfig ${path}: not a YAML mapping`);
  const ctxName = context ?? str(doc, "current-context");
  if (!ctxName) throw new Error(`kubeconfig ${path}: no current-context`);
  const ctx = named(doc.contexts, ctxName, "context");
  const cluster = named(doc.clusters, str(ctx, "cluster") ?? "", "cluster");
  const userName = str(ctx, "user");
  const user = userName ? named(doc.users, userName, "user") : {};
  const server = str(cluster, "server");
  if (!server) throw new Error(`kubeconfig ${path}: cluster has no server`);
  if (cluster["insecure-skip-tls-verify"] === true) {
    throw new Error(`kubeconfig ${path}: insecure-skip-tls-verify is not supported`);
  }
  if (user.exec || user["auth-provider"]) {
    throw new Error(`kubeconfig ${path}: exec and auth-provider credentials are not supported`);
  }
  const conn: KubeConnection = { server: server.replace(/\/+$/, ""), origin: `kubeconfig ${path}` };
  const caData = str(cluster, "certificate-authority-data");
  const caFile = str(cluster, "certificate-authority");
  if (caData) conn.caPem = decodeBase64(caData);
  else if (caFile) conn.caPem = readRelative(path, caFile);
  const token = str(user, "token");
  const tokenFile = str(user, "tokenFile");
  if (token) conn.token = token;
  else if (tokenFile) {
    conn.tokenFile = tokenFile.startsWith("/")
      ? tokenFile
      : `${path.slice(0, path.lastIndexOf("/") + 1)}${tokenFile}`;
  }
  const certData = str(user, "client-certificate-data");
  const certFile = str(user, "client-certificate");
  const keyData = str(user, "client-key-data");
  const keyFile = str(user, "client-key");
  if (certData) conn.certPem = decodeBase64(certData);
  else if (certFile) conn.certPem = readRelative(path, certFile);
  if (keyData) conn.keyPem = decodeBase64(keyData);
  else if (keyFile) conn.keyPem = readRelative(path, keyFile);
  const username = str(user, "username");
  const password = str(user, "password");
  if (username && password) conn.basicAuth = { username, password };
  return conn;
}

/** The HTTP client for a connection (CA and client certificate). */
export function httpClientFor(conn: KubeConnection): Deno.HttpClient {
  const caCerts = conn.caPem ? [conn.caPem] : undefined;
  if (conn.certPem && conn.keyPem) {
    return Deno.createHttpClient({ caCerts, cert: conn.certPem, key: conn.keyPem });
  }
  return Deno.createHttpClient({ caCerts });
}

/** The Authorization header for a connection (the token file is read each time). */
export function authorizationFor(conn: KubeConnection): string | undefined {
  if (conn.tokenFile) {
    const t = Deno.readTextFileSync(conn.tokenFile).trim();
    if (t) return `Bearer ${t}`;
  }
  if (conn.token) return `Bearer ${conn.token}`;
  if (conn.basicAuth) {
    return `Basic ${btoa(`${conn.basicAuth.username}:${conn.basicAuth.password}`)}`;
  }
  return undefined;
}
