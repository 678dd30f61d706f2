using System.Globalization;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace CurvNative.Plots;

/// <summary>How an axis maps values to positions.</summary>
public enum AxisScale
{
    /// <summary>Values as they are.</summary>
    Linear,

    /// <summary>log10 of the values, labelled with the values (1e-5, 0.001, 0.01, ..., 100, 1e4; also 2 and 5 times
    /// the powers of ten on short ranges) and with minor ticks at 2..9 times each power of ten. Points whose value is not positive are left out of their line.</summary>
    Log10,
}

/// <summary>The file formats a <see cref="LineChart"/> renders to.</summary>
public enum ChartFormat
{
    /// <summary>PNG image (<c>.png</c>).</summary>
    Png,

    /// <summary>Standalone SVG document, UTF-8 (<c>.svg</c>).</summary>
    Svg,
}

/// <summary>
/// A line chart of one or more named series, rendered by ScottPlot as PNG or SVG: a title, axis labels, linear
/// or logarithmic axes and a legend (shown when a series has a label). Used for spectral densities, estimator
/// error against matrix-vector products and training error against time.
/// </summary>
/// <remarks>The chart validates its data when a series is added (equal lengths, at least one drawable point) and
/// when it is rendered (at least one series); rendering does not change the chart, so it can be rendered as PNG
/// and as SVG from one definition. Text uses the DejaVu Sans font (Debian's fonts-dejavu-core) when installed.</remarks>
public sealed class LineChart
{
    private static readonly Color[] Palette =
        [new("#1f77b4"), new("#d62728"), new("#2ca02c"), new("#9467bd"), new("#ff7f0e"), new("#8c564b"), new("#e377c2"), new("#17becf")];

    private readonly List<Series> _series = [];
    private readonly int _maxDecadesY = 8, _width = 800, _height = 500;

    /// <summary>Creates an empty chart.</summary>
    /// <param name="title">Title above the plot.</param>
    /// <param name="xLabel">Label of the horizontal axis (with its unit).</param>
    /// <param name="yLabel">Label of the vertical axis (with its unit).</param>
    public LineChart(string title, string xLabel, string yLabel)
    {
        Title = title ?? throw new ArgumentNullException(nameof(title));
        XLabel = xLabel ?? throw new ArgumentNullException(nameof(xLabel));
        YLabel = yLabel ?? throw new ArgumentNullException(nameof(yLabel));
    }

    /// <summary>Title above the plot.</summary>
    public string Title { get; }

    /// <summary>Label of the horizontal axis.</summary>
    public string XLabel { get; }

    /// <summary>Label of the vertical axis.</summary>
    public string YLabel { get; }

    /// <summary>Scale of the horizontal axis (default linear).</summary>
    public AxisScale XScale { get; init; } = AxisScale.Linear;

    /// <summary>Scale of the vertical axis (default linear).</summary>
    public AxisScale YScale { get; init; } = AxisScale.Linear;

    /// <summary>On a logarithmic vertical axis, the number of decades shown below the largest value (default 8):
    /// a density's far tail or an error that reached round-off would otherwise squeeze everything else.</summary>
    public int MaxDecadesY { get => _maxDecadesY; init => _maxDecadesY = Positive(value, nameof(MaxDecadesY)); }

    /// <summary>Width of the rendered image in pixels (default 800).</summary>
    public int Width { get => _width; init => _width = Positive(value, nameof(Width)); }

    /// <summary>Height of the rendered image in pixels (default 500).</summary>
    public int Height { get => _height; init => _height = Positive(value, nameof(Height)); }

    /// <summary>The series added so far, in drawing and legend order.</summary>
    public IReadOnlyList<Series> Lines => _series;

    /// <summary>Adds a line through the points (x[i], y[i]), in order.</summary>
    /// <param name="label">Legend text; empty for a series that has no legend entry.</param>
    /// <param name="x">Horizontal coordinates.</param>
    /// <param name="y">Vertical coordinates, as many as <paramref name="x"/>.</param>
    /// <param name="markers">Also mark each point (for few, measured points such as an error per budget).</param>
    /// <returns>This chart, to chain calls.</returns>
    /// <exception cref="ArgumentException">The lengths differ, or no point is finite (and positive on a log axis).</exception>
    public LineChart Add(string label, IReadOnlyList<double> x, IReadOnlyList<double> y, bool markers = false)
    {
        ArgumentNullException.ThrowIfNull(label);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count)
            throw new ArgumentException($"Series '{label}' of chart '{Title}': {x.Count} x values but {y.Count} y values; expected as many of each.", nameof(y));
        var series = new Series(label, [.. x], [.. y], markers);
        if (!Enumerable.Range(0, series.X.Length).Any(i => Drawable(series.X[i], XScale) && Drawable(series.Y[i], YScale)))
            throw new ArgumentException(
                $"Series '{label}' of chart '{Title}' has no point to draw: expected at least one with finite coordinates{(XScale == AxisScale.Log10 || YScale == AxisScale.Log10 ? ", positive on a logarithmic axis" : "")}.",
                nameof(y));
        _series.Add(series);
        return this;
    }

    /// <summary>The chart as a PNG image.</summary>
    /// <exception cref="InvalidOperationException">The chart has no series.</exception>
    public byte[] RenderPng() => Build().GetImageBytes(Width, Height, ImageFormat.Png);

    /// <summary>The chart as a standalone SVG document.</summary>
    /// <exception cref="InvalidOperationException">The chart has no series.</exception>
    public string RenderSvg() => Build().GetSvgXml(Width, Height);

    /// <summary>The chart as the bytes of a file in <paramref name="format"/>.</summary>
    /// <exception cref="InvalidOperationException">The chart has no series.</exception>
    public byte[] Render(ChartFormat format) => format switch
    {
        ChartFormat.Png => RenderPng(),
        ChartFormat.Svg => new System.Text.UTF8Encoding(false).GetBytes(RenderSvg()),
        _ => throw new ArgumentOutOfRangeException(nameof(format), $"Expected Png or Svg, got {format}."),
    };

    /// <summary>The format named by a path's extension (.png or .svg, any case), or null for any other.</summary>
    public static ChartFormat? FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".png" => ChartFormat.Png,
        ".svg" => ChartFormat.Svg,
        _ => null,
    };

    private Plot Build()
    {
        if (_series.Count == 0) throw new InvalidOperationException($"Chart '{Title}' has no series to draw; add one with Add(label, x, y).");
        var plot = new Plot();
        if (SansFont is { } sans) plot.Font.Set(sans);
        plot.Title(Title);
        plot.XLabel(XLabel);
        plot.YLabel(YLabel);
        plot.Grid.MajorLineColor = Colors.Black.WithOpacity(0.12);
        plot.Grid.MinorLineColor = Colors.Black.WithOpacity(0.04);
        plot.Grid.MinorLineWidth = 1;

        double xLow = double.PositiveInfinity, xTop = double.NegativeInfinity, yLow = double.PositiveInfinity, yTop = double.NegativeInfinity;
        for (int s = 0; s < _series.Count; s++)
        {
            var series = _series[s];
            // A point that cannot be drawn (NaN, or not positive on a log axis) breaks its line instead of joining
            // its neighbours across the gap: each run of drawable points is one line, the first one in the legend.
            bool first = true;
            foreach (var (xs, ys) in Segments(series))
            {
                xLow = Math.Min(xLow, xs.Min());
                xTop = Math.Max(xTop, xs.Max());
                yLow = Math.Min(yLow, ys.Min());
                yTop = Math.Max(yTop, ys.Max());
                var line = plot.Add.ScatterLine(xs, ys, Palette[s % Palette.Length]);
                line.LineWidth = 2;
                line.MarkerSize = series.Markers ? 6 : 0;
                line.MarkerShape = series.Markers ? MarkerShape.FilledCircle : MarkerShape.None;
                if (first) line.LegendText = series.Label;
                first = false;
            }
        }
        if (_series.Any(s => s.Label.Length > 0)) plot.ShowLegend(LegendCorner(xLow, xTop, yLow, yTop));

        if (XScale == AxisScale.Log10) plot.Axes.Bottom.TickGenerator = LogTicks(xLow, xTop);
        if (YScale == AxisScale.Log10)
        {
            // The vertical range is set here rather than by autoscaling, which would pad it by a fraction of the
            // full range, down to values MaxDecadesY excludes.
            double low = Math.Max(yLow, yTop - MaxDecadesY), pad = Math.Max(0.05 * (yTop - low), 0.1);
            plot.Axes.SetLimitsY(low - pad, yTop + pad);
            plot.Axes.Left.TickGenerator = LogTicks(low - pad, yTop + pad);
        }
        return plot;
    }

    // ScottPlot's own default on Debian is DejaVu Serif; a sans font reads better at small sizes. GetTypeface falls
    // back to the default family when the one asked for is missing.
    private static readonly string? SansFont =
        Fonts.GetTypeface("DejaVu Sans", false, false).FamilyName == "DejaVu Sans" ? "DejaVu Sans" : null;

    /// <summary>The corner of the data area whose quarter holds the fewest points, so that the legend hides as
    /// little of the lines as it can (points below the visible log range count as outside).</summary>
    private Alignment LegendCorner(double xLow, double xTop, double yLow, double yTop)
    {
        if (YScale == AxisScale.Log10) yLow = Math.Max(yLow, yTop - MaxDecadesY);
        double Fraction(double v, double lo, double hi) => hi > lo ? (v - lo) / (hi - lo) : 0.5;
        var counts = new int[4]; // upper right, upper left, lower right, lower left
        foreach (var series in _series)
            foreach (var (xs, ys) in Segments(series))
                for (int i = 0; i < xs.Length; i++)
                {
                    double fx = Fraction(xs[i], xLow, xTop), fy = Fraction(ys[i], yLow, yTop);
                    if (fy < 0) continue;
                    if (fx >= 0.55 && fy >= 0.6) counts[0]++;
                    if (fx <= 0.45 && fy >= 0.6) counts[1]++;
                    if (fx >= 0.55 && fy <= 0.4) counts[2]++;
                    if (fx <= 0.45 && fy <= 0.4) counts[3]++;
                }
        Alignment[] corners = [Alignment.UpperRight, Alignment.UpperLeft, Alignment.LowerRight, Alignment.LowerLeft];
        return corners[Array.IndexOf(counts, counts.Min())];
    }

    /// <summary>The runs of drawable points of <paramref name="series"/>, in axis coordinates (log10 on a log axis).</summary>
    internal IEnumerable<(double[] X, double[] Y)> Segments(Series series)
    {
        var xs = new List<double>();
        var ys = new List<double>();
        for (int i = 0; i <= series.X.Length; i++)
        {
            if (i < series.X.Length && Drawable(series.X[i], XScale) && Drawable(series.Y[i], YScale))
            {
                xs.Add(Map(series.X[i], XScale));
                ys.Add(Map(series.Y[i], YScale));
            }
            else if (xs.Count > 0)
            {
                yield return ([.. xs], [.. ys]);
                xs.Clear();
                ys.Clear();
            }
        }
    }

    private static int Positive(int value, string name)
        => value > 0 ? value : throw new ArgumentOutOfRangeException(name, $"{name} must be positive, got {value}.");

    private static bool Drawable(double v, AxisScale scale) => double.IsFinite(v) && (scale == AxisScale.Linear || v > 0);

    private static double Map(double v, AxisScale scale) => scale == AxisScale.Log10 ? Math.Log10(v) : v;

    /// <summary>Ticks of a log10 axis showing [<paramref name="low"/>, <paramref name="high"/>] (in log10 units):
    /// labelled at 1, 2 and 5 times the powers of ten when the range spans less than three decades (else at powers
    /// of ten, every second or more one when there are many), minor ticks at 2..9 times each power of ten.</summary>
    private static NumericManual LogTicks(double low, double high)
    {
        var ticks = new NumericManual();
        foreach (var (at, label) in LogTickPositions(low, high))
            if (label is null) ticks.AddMinor(at);
            else ticks.AddMajor(at, label);
        return ticks;
    }

    /// <summary>The ticks of <see cref="LogTicks"/>: position in log10 units, label (null for a minor tick).</summary>
    internal static List<(double At, string? Label)> LogTickPositions(double low, double high)
    {
        var ticks = new List<(double, string?)>();
        int first = (int)Math.Floor(low), last = (int)Math.Ceiling(high);
        double decades = high - low;
        double[] labelled = decades < 3 ? [1, 2, 5] : [1];
        int step = Math.Max(1, (int)Math.Ceiling(decades / 10));
        for (int e = first; e <= last; e++)
            for (int m = 1; m <= 9; m++)
            {
                double at = e + Math.Log10(m);
                if (at < low || at > high) continue;
                if (labelled.Contains(m) && (m > 1 || (e - first) % step == 0)) ticks.Add((at, TickLabel(m, e)));
                else if (step == 1) ticks.Add((at, null));
            }
        return ticks;
    }

    /// <summary>The label of m 10^e: written out from 0.001 to 9000, else as 2e-5.</summary>
    internal static string TickLabel(int mantissa, int exponent) => Math.Abs(exponent) <= 3
        ? (mantissa * Math.Pow(10, exponent)).ToString("0.###", CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{mantissa}e{exponent}");

    /// <summary>One line of the chart.</summary>
    /// <param name="Label">Legend text (empty: no legend entry).</param>
    /// <param name="X">Horizontal coordinates.</param>
    /// <param name="Y">Vertical coordinates.</param>
    /// <param name="Markers">Whether each point is marked.</param>
    public sealed record Series(string Label, double[] X, double[] Y, bool Markers);
}
