import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useTranslate } from 'react-admin';
import type { RevenueDay } from './finance';

// Recharts is loaded with the first screen that draws a chart, not with the app.

const CHANNEL_COLOURS: Record<string, string> = { alipay: '#1677ff', wechat: '#07c160', stripe: '#635bff' };

/** Net takings per day, channels stacked, in the currency with the most of them. */
export function RevenueChart({ days }: { days: RevenueDay[] }) {
  const translate = useTranslate();
  const byCurrency = new Map<string, number>();
  for (const d of days) byCurrency.set(d.currency, (byCurrency.get(d.currency) ?? 0) + d.net);
  const currency = [...byCurrency.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'CNY';
  const rows = new Map<string, Record<string, number | string>>();
  for (const d of days.filter((d) => d.currency === currency)) {
    const row = rows.get(d.day) ?? { day: d.day };
    row[d.channel] = ((row[d.channel] as number) ?? 0) + d.net / 100;
    rows.set(d.day, row);
  }
  const data = [...rows.values()].sort((a, b) => String(a.day).localeCompare(String(b.day)));
  const channels = [...new Set(days.map((d) => d.channel))];
  return (
    <ResponsiveContainer width="100%" height="100%">
      <BarChart data={data}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="day" />
        <YAxis label={{ value: currency, angle: -90, position: 'insideLeft' }} />
        <Tooltip />
        <Legend />
        {channels.map((c) => (
          <Bar key={c} dataKey={c} name={translate(`bx.order.channel.${c}`)} stackId="net" fill={CHANNEL_COLOURS[c] ?? "#888"} isAnimationActive={false} />
        ))}
      </BarChart>
    </ResponsiveContainer>
  );
}

/** Daily counts as lines (new members, new subscribers, articles published...). */
export function CountsChart({ data, series }: { data: Record<string, number | string>[]; series: { key: string; label: string; colour: string }[] }) {
  return (
    <ResponsiveContainer width="100%" height="100%">
      <LineChart data={data}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="day" />
        <YAxis allowDecimals={false} />
        <Tooltip />
        <Legend />
        {series.map((s) => (
          <Line key={s.key} type="monotone" dataKey={s.key} name={s.label} stroke={s.colour} dot={false} isAnimationActive={false} />
        ))}
      </LineChart>
    </ResponsiveContainer>
  );
}
