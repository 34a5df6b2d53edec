// The live rate chart: receive and send rates over the last 60 s, from the helper's stats events.

import {
  areaPath,
  chartCeiling,
  chartCoordinates,
  currentRate,
  emptyHistory,
  polylinePoints,
  type RateHistory,
} from '../lib/rates.ts';
import { formatRate } from '../lib/format.ts';
import { strings } from '../strings.ts';

const WIDTH = 600;
const HEIGHT = 120;

export function RateChart({
  history,
  now,
  live,
}: {
  history: RateHistory | undefined;
  now: number;
  live: boolean;
}) {
  const points = history?.points ?? [];
  const ceiling = chartCeiling(points);
  const rate = currentRate(history ?? emptyHistory, now);
  const rxCoordinates = chartCoordinates(points, 'rx', now, ceiling, WIDTH, HEIGHT);
  const rx = polylinePoints(rxCoordinates);
  const tx = polylinePoints(chartCoordinates(points, 'tx', now, ceiling, WIDTH, HEIGHT));
  const area = areaPath(rxCoordinates, HEIGHT);
  const t = strings.detail;

  return (
    <figure className="chart">
      <figcaption className="chart-legend">
        <span className="legend legend-rx">
          <span className="legend-swatch" aria-hidden="true" />
          {t.trafficDown}
          <strong>{formatRate(rate.rx)}</strong>
        </span>
        <span className="legend legend-tx">
          <span className="legend-swatch" aria-hidden="true" />
          {t.trafficUp}
          <strong>{formatRate(rate.tx)}</strong>
        </span>
        <span className="chart-scale">{formatRate(ceiling).replace(/\.0+(?= )/, '')}</span>
      </figcaption>
      <div className="chart-plot">
        <svg
          viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
          preserveAspectRatio="none"
          role="img"
          aria-label={t.trafficLabel(formatRate(rate.rx), formatRate(rate.tx))}
        >
          <line className="chart-grid" x1="0" x2={WIDTH} y1={HEIGHT / 2} y2={HEIGHT / 2} />
          <line className="chart-grid" x1="0" x2={WIDTH} y1="0.5" y2="0.5" />
          <line className="chart-axis" x1="0" x2={WIDTH} y1={HEIGHT - 0.5} y2={HEIGHT - 0.5} />
          {area && <path className="chart-area-rx" d={area} />}
          {rx && <polyline className="chart-line-rx" points={rx} />}
          {tx && <polyline className="chart-line-tx" points={tx} />}
        </svg>
        {!live && <p className="chart-empty">{t.trafficIdle}</p>}
      </div>
      <div className="chart-axis-labels" aria-hidden="true">
        <span>{t.trafficAxisStart}</span>
        <span>{t.trafficAxisNow}</span>
      </div>
    </figure>
  );
}
