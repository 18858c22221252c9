/**
 * @file The app's routes in the URL hash (`#/new`, `#/runs`, `#/runs/<id>`, `#/compare?ids=a,b`, `#/export/<id>`,
 * `#/diff/<id>?node=…`, `#/workers`),
 * so a reload keeps the view and the browser's back button works. Keeps the page's query (the session token).
 */
import { reactive } from 'vue';

export type RouteName = 'wizard' | 'history' | 'run' | 'compare' | 'export' | 'diff' | 'workers';

export interface Route {
  name: RouteName;
  id: string | null;
  ids: string[];
  /** The graph diff's focused node (`#/diff/<id>?node=…`). */
  node?: string | null;
}

/** Parses a hash. @example parseHash('#/compare?ids=a,b') // { name: 'compare', id: null, ids: ['a', 'b'] } */
export function parseHash(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  const ids = (new URLSearchParams(query).get('ids') ?? '').split(',').filter(Boolean);
  if (parts[0] === 'runs' && parts[1]) return { name: 'run', id: parts[1], ids: [] };
  if (parts[0] === 'runs') return { name: 'history', id: null, ids: [] };
  if (parts[0] === 'compare') return { name: 'compare', id: null, ids };
  if (parts[0] === 'export' && parts[1]) return { name: 'export', id: parts[1], ids: [] };
  if (parts[0] === 'diff' && parts[1])
    return { name: 'diff', id: parts[1], ids: [], node: new URLSearchParams(query).get('node') };
  if (parts[0] === 'workers') return { name: 'workers', id: null, ids: [] };
  return { name: 'wizard', id: null, ids: [] };
}

/** The hash of a route. */
export function routeHash(r: Partial<Route> & { name: RouteName }): string {
  switch (r.name) {
    case 'run':
      return `#/runs/${r.id}`;
    case 'history':
      return '#/runs';
    case 'compare':
      return `#/compare${r.ids?.length ? `?ids=${r.ids.join(',')}` : ''}`;
    case 'export':
      return `#/export/${r.id}`;
    case 'diff':
      return `#/diff/${r.id}${r.node ? `?${new URLSearchParams({ node: r.node })}` : ''}`;
    case 'workers':
      return '#/workers';
    default:
      return '#/new';
  }
}

const route = reactive<Route>(parseHash(typeof location === 'undefined' ? '' : location.hash));
if (typeof window !== 'undefined')
  window.addEventListener('hashchange', () => Object.assign(route, { node: null }, parseHash(location.hash)));

/** The current route (reactive) and navigation. */
export function useRoute() {
  return {
    route,
    go(r: Partial<Route> & { name: RouteName }) {
      const hash = routeHash(r);
      if (location.hash !== hash) location.hash = hash;
      Object.assign(route, { node: null }, parseHash(hash));
    },
  };
}
