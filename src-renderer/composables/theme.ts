/**
 * @file Light and dark themes: the effective theme (a setting, or the system's preference) applied to the
 * document, and the palette charts read from the CSS variables so they follow the theme.
 */
import { ref } from 'vue';

export type ThemeSetting = 'system' | 'light' | 'dark';

/** Bumped whenever the applied theme changes (charts re-read their palette). */
export const themeVersion = ref(0);
const applied = ref<'light' | 'dark'>('light');

function prefersDark(): boolean {
  return typeof matchMedia !== 'undefined' && matchMedia('(prefers-color-scheme: dark)').matches;
}

/** Applies a theme setting to the document (`data-theme` on <html>) and remembers it for the next start. */
export function applyTheme(setting: ThemeSetting): void {
  const effective = setting === 'system' ? (prefersDark() ? 'dark' : 'light') : setting;
  if (typeof document !== 'undefined') document.documentElement.dataset.theme = effective;
  try {
    localStorage.setItem('studio.theme', setting);
  } catch {
    /* storage unavailable: the host's setting still applies */
  }
  if (applied.value !== effective) {
    applied.value = effective;
    themeVersion.value++;
  }
}

/** The theme remembered from the last start (before the host answers). */
export function rememberedTheme(): ThemeSetting {
  try {
    const t = localStorage.getItem('studio.theme');
    return t === 'light' || t === 'dark' || t === 'system' ? t : 'system';
  } catch {
    return 'system';
  }
}

export function appliedTheme() {
  return applied;
}

export interface Palette {
  text: string;
  muted: string;
  border: string;
  surface: string;
  accent: string;
  series: string[];
  good: string;
  bad: string;
}

/** Chart colours from the CSS variables of the applied theme. */
export function palette(): Palette {
  const css = typeof document === 'undefined' ? null : getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => css?.getPropertyValue(name).trim() || fallback;
  return {
    text: v('--text', '#1b1f24'),
    muted: v('--muted', '#5b6470'),
    border: v('--border', '#dde1e7'),
    surface: v('--surface', '#ffffff'),
    accent: v('--accent', '#3b5bdb'),
    good: v('--ok', '#2b8a3e'),
    bad: v('--err', '#c92a2a'),
    series: [1, 2, 3, 4, 5, 6, 7, 8].map((i) =>
      v(
        `--series-${i}`,
        ['#3b5bdb', '#e8590c', '#2b8a3e', '#ae3ec9', '#1098ad', '#f59f00', '#d6336c', '#495057'][i - 1]!,
      ),
    ),
  };
}
