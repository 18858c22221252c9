/**
 * @file Zoom and pan of a 2-D canvas view: a scale and a translation, zoom about a point, fit to content, and the
 * keyboard bindings (+ / − / 0 / arrows) the graph view offers. Pure state in a reactive object.
 */
import { reactive } from 'vue';

export interface Viewport {
  scale: number;
  tx: number;
  ty: number;
}

export const MIN_SCALE = 0.05;
export const MAX_SCALE = 4;

/**
 * A viewport with its operations.
 *
 * @example const vp = useViewport(); vp.fit({ width: 800, height: 2000 }, { width: 600, height: 400 });
 */
export function useViewport() {
  const state = reactive<Viewport>({ scale: 1, tx: 0, ty: 0 });
  const clamp = (s: number) => Math.min(MAX_SCALE, Math.max(MIN_SCALE, s));
  return {
    state,
    /** Multiplies the scale by `factor`, keeping the screen point (cx, cy) fixed. */
    zoomAt(factor: number, cx: number, cy: number) {
      const s = clamp(state.scale * factor);
      const k = s / state.scale;
      state.tx = cx - (cx - state.tx) * k;
      state.ty = cy - (cy - state.ty) * k;
      state.scale = s;
    },
    pan(dx: number, dy: number) {
      state.tx += dx;
      state.ty += dy;
    },
    /**
     * Fits content into the view with a margin: all of it (the Fit button, key 0). With `readable`, a graph that
     * would shrink below legibility is fitted by width and shown from the top instead (the first view of a big model).
     */
    fit(
      content: { width: number; height: number },
      view: { width: number; height: number },
      margin = 24,
      opts: { readable?: boolean } = {},
    ) {
      if (content.width <= 0 || view.width <= 0) return;
      const byWidth = (view.width - 2 * margin) / content.width;
      const byHeight = (view.height - 2 * margin) / Math.max(1, content.height);
      const whole = Math.min(byWidth, byHeight);
      const s = clamp(Math.min(1.2, opts.readable && whole < 0.2 ? byWidth : whole));
      state.scale = s;
      state.tx = (view.width - content.width * s) / 2;
      state.ty = content.height * s < view.height ? (view.height - content.height * s) / 2 : margin;
    },
    /** Centers a content point in the view. */
    centerOn(x: number, y: number, view: { width: number; height: number }) {
      state.tx = view.width / 2 - x * state.scale;
      state.ty = view.height / 2 - y * state.scale;
    },
    toWorld(sx: number, sy: number) {
      return { x: (sx - state.tx) / state.scale, y: (sy - state.ty) / state.scale };
    },
  };
}

/**
 * The minimap's mapping: the whole content scaled into a `box` (keeping its aspect), and the part of the content
 * the main view shows, as a rectangle in the box.
 *
 * @example minimap({ width: 400, height: 4000 }, { width: 120, height: 120 }, vp.state, { width: 600, height: 400 }).view
 */
export function minimap(
  content: { width: number; height: number },
  box: { width: number; height: number },
  vp: Viewport,
  view: { width: number; height: number },
) {
  const k = Math.min(box.width / Math.max(1, content.width), box.height / Math.max(1, content.height));
  const ox = (box.width - content.width * k) / 2;
  const oy = (box.height - content.height * k) / 2;
  const toBox = (x: number, y: number) => ({ x: ox + x * k, y: oy + y * k });
  const a = toBox(-vp.tx / vp.scale, -vp.ty / vp.scale);
  const rect = { x: a.x, y: a.y, width: (view.width / vp.scale) * k, height: (view.height / vp.scale) * k };
  return {
    scale: k,
    toBox,
    /** A point of the box back in content coordinates (a click there centers the main view on it). */
    toContent: (bx: number, by: number) => ({ x: (bx - ox) / k, y: (by - oy) / k }),
    view: rect,
  };
}
