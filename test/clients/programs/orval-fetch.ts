// The fetch function orval's generated client calls (its `override.mutator`): the place a consumer
// says where the service is and which API key to send. The generated URLs start with the default
// from openapi.yaml's first server entry; `configure` points them at another origin.
let settings: { baseUrl?: string; apiKey?: string } = {};

export function configure(next: { baseUrl: string; apiKey: string }): void {
  settings = next;
}

export async function ordersFetch<T>(url: string, init: RequestInit): Promise<T> {
  const target = new URL(url);
  const base = settings.baseUrl ? new URL(settings.baseUrl) : target;
  const headers = new Headers(init.headers);
  if (settings.apiKey) headers.set('authorization', `Bearer ${settings.apiKey}`);
  const response = await fetch(new URL(target.pathname + target.search, base), { ...init, headers });
  const text = [204, 205, 304].includes(response.status) ? '' : await response.text();
  // orval's fetch client types the result as { data, status, headers } per declared status.
  return { data: text ? JSON.parse(text) : undefined, status: response.status, headers: response.headers } as T;
}
