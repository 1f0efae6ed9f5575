import type { TrafficPoint } from '@ggnet/contracts';

/**
 * Reads (filled) and writes (line) per second over the recent samples, as an inline SVG: no chart
 * library, one path per series. The scale is the largest value shown (or `max`), so a quiet machine
 * shows a flat line, not noise blown up.
 */
export function Sparkline(props: {
  points: TrafficPoint[];
  width?: number;
  height?: number;
  /** Samples the width stands for (older ones are off the left edge); default points.length. */
  slots?: number;
  label?: string;
  /** Stretch to the container's width (the viewBox keeps `width` units). */
  fluid?: boolean;
}) {
  const w = props.width ?? 80;
  const h = props.height ?? 20;
  const pts = props.points;
  const slots = Math.max(2, props.slots ?? pts.length);
  const max = Math.max(1, ...pts.map((p) => Math.max(p.readBytesPerSec, p.writeBytesPerSec)));
  const x = (i: number) => w - ((pts.length - 1 - i) * w) / (slots - 1);
  const y = (v: number) => h - 1 - (v / max) * (h - 2);
  const line = (f: (p: TrafficPoint) => number) =>
    pts.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(f(p)).toFixed(1)}`).join(' ');
  const read = line((p) => p.readBytesPerSec);
  return (
    <svg
      width={props.fluid ? '100%' : w}
      height={h}
      viewBox={`0 0 ${w} ${h}`}
      preserveAspectRatio={props.fluid ? 'none' : undefined}
      role="img"
      aria-label={props.label ?? 'traffic'}
      data-testid="sparkline"
      style={{ display: 'block', overflow: 'visible' }}
    >
      {pts.length > 1 && (
        <>
          <path
            data-series="read"
            d={`${read} L${x(pts.length - 1).toFixed(1)},${h} L${x(0).toFixed(1)},${h} Z`}
            fill="var(--mantine-color-teal-filled)"
            fillOpacity={0.35}
            stroke="var(--mantine-color-teal-filled)"
            strokeWidth={1}
            vectorEffect="non-scaling-stroke"
          />
          <path
            data-series="write"
            d={line((p) => p.writeBytesPerSec)}
            fill="none"
            stroke="var(--mantine-color-orange-filled)"
            strokeWidth={1.25}
            vectorEffect="non-scaling-stroke"
          />
        </>
      )}
      <line x1={0} x2={w} y1={h - 0.5} y2={h - 0.5} stroke="var(--mantine-color-default-border)" />
    </svg>
  );
}
