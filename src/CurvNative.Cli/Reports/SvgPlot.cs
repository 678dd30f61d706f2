using System.Globalization;
using System.Text;

namespace CurvNative.Cli.Reports;

/// <summary>
/// A minimal line-plot writer (no plotting package is reachable here): axes with "nice" ticks,
/// labels, a title, optional log scale on y, one or more series. Produces a standalone SVG.
/// </summary>
internal sealed class SvgPlot
{
    private readonly List<(string Label, double[] X, double[] Y, string Color)> _series = [];
    private static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];

    public required string Title { get; init; }
    public required string XLabel { get; init; }
    public required string YLabel { get; init; }
    public bool LogY { get; init; }
    public int Width { get; init; } = 720;
    public int Height { get; init; } = 440;

    public SvgPlot Add(string label, double[] x, double[] y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"Series '{label}': {x.Length} x values but {y.Length} y values.");
        _series.Add((label, x, y, Palette[_series.Count % Palette.Length]));
        return this;
    }

    public string Render()
    {
        const double left = 80, right = 24, top = 48, bottom = 64;
        double pw = Width - left - right, ph = Height - top - bottom;
        var xs = _series.SelectMany(s => s.X).Where(double.IsFinite).ToArray();
        var ys = _series.SelectMany(s => s.Y).Where(v => double.IsFinite(v) && (!LogY || v > 0)).ToArray();
        if (xs.Length == 0 || ys.Length == 0) throw new InvalidOperationException($"Plot '{Title}' has no finite points to draw.");
        double x0 = xs.Min(), x1 = xs.Max();
        if (x0 == x1) { x0 -= 1; x1 += 1; }
        double y0, y1;
        if (LogY)
        {
            // Clip the density's far tail: below 1e-8 of the peak is invisible noise on a log axis.
            y1 = Math.Log10(ys.Max());
            y0 = Math.Max(Math.Log10(ys.Min()), y1 - 8);
            if (y1 - y0 < 1) y0 = y1 - 1;
            y0 = Math.Floor(y0); y1 = Math.Ceiling(y1);
        }
        else
        {
            y0 = Math.Min(0, ys.Min()); y1 = ys.Max();
            if (y0 == y1) y1 = y0 + 1;
        }
        double Px(double x) => left + (x - x0) / (x1 - x0) * pw;
        double Py(double y) => top + ph - ((LogY ? Math.Log10(Math.Max(y, Math.Pow(10, y0))) : y) - y0) / (y1 - y0) * ph;

        var sb = new StringBuilder();
        sb.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">\n"));
        sb.Append(Inv($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n"));
        sb.Append(Inv($"<text x=\"{Width / 2}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{Escape(Title)}</text>\n"));

        foreach (var t in NiceTicks(x0, x1, 7))
        {
            double px = Px(t);
            sb.Append(Inv($"<line x1=\"{px:F1}\" y1=\"{top}\" x2=\"{px:F1}\" y2=\"{top + ph}\" stroke=\"#e5e5e5\"/>\n"));
            sb.Append(Inv($"<text x=\"{px:F1}\" y=\"{top + ph + 18}\" text-anchor=\"middle\">{Format(t)}</text>\n"));
        }
        var yTicks = LogY ? Enumerable.Range((int)y0, (int)(y1 - y0) + 1).Select(e => (double)e).ToList() : NiceTicks(y0, y1, 6);
        foreach (var t in yTicks)
        {
            double py = LogY ? top + ph - (t - y0) / (y1 - y0) * ph : Py(t);
            string label = LogY ? Inv($"1e{t:0}") : Format(t);
            sb.Append(Inv($"<line x1=\"{left}\" y1=\"{py:F1}\" x2=\"{left + pw}\" y2=\"{py:F1}\" stroke=\"#e5e5e5\"/>\n"));
            sb.Append(Inv($"<text x=\"{left - 8}\" y=\"{py + 4:F1}\" text-anchor=\"end\">{label}</text>\n"));
        }
        sb.Append(Inv($"<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>\n"));
        sb.Append(Inv($"<text x=\"{left + pw / 2}\" y=\"{Height - 18}\" text-anchor=\"middle\">{Escape(XLabel)}</text>\n"));
        sb.Append(Inv($"<text transform=\"translate(20 {top + ph / 2}) rotate(-90)\" text-anchor=\"middle\">{Escape(YLabel)}</text>\n"));

        int legendY = (int)top + 16;
        foreach (var (label, x, y, color) in _series)
        {
            var points = string.Join(" ", x.Zip(y).Where(p => double.IsFinite(p.First) && double.IsFinite(p.Second))
                .Select(p => Inv($"{Px(p.First):F1},{Py(p.Second):F1}")));
            sb.Append(Inv($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\" points=\"{points}\"/>\n"));
            if (_series.Count > 1)
            {
                sb.Append(Inv($"<line x1=\"{left + pw - 150}\" y1=\"{legendY - 4}\" x2=\"{left + pw - 126}\" y2=\"{legendY - 4}\" stroke=\"{color}\" stroke-width=\"2\"/>\n"));
                sb.Append(Inv($"<text x=\"{left + pw - 120}\" y=\"{legendY}\">{Escape(label)}</text>\n"));
                legendY += 18;
            }
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static List<double> NiceTicks(double lo, double hi, int target)
    {
        double span = hi - lo, raw = span / target, mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 2.5, 5, 10 }.Select(f => f * mag).First(s => s >= raw);
        var ticks = new List<double>();
        for (double t = Math.Ceiling(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.Add(Math.Abs(t) < step * 1e-9 ? 0 : t);
        return ticks;
    }

    private static string Format(double v) => Math.Abs(v) >= 1e4 || (Math.Abs(v) < 1e-3 && v != 0)
        ? v.ToString("0.##E0", CultureInfo.InvariantCulture) : v.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
