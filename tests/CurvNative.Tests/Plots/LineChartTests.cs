using System.Buffers.Binary;
using System.Xml.Linq;
using CurvNative.Plots;
using Xunit;

namespace CurvNative.Tests.Plots;

/// <summary>LineChart renders what it was given (size, title, labels, legend, log ticks) as PNG and SVG, and rejects
/// data it cannot draw with an error naming the chart and the series.</summary>
public sealed class LineChartTests
{
    public static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private static LineChart Convergence() =>
        new LineChart("Estimator error", "matrix-vector products", "relative error") { XScale = AxisScale.Log10, YScale = AxisScale.Log10, Width = 640, Height = 400 }
            .Add("Hutchinson", [12, 24, 48, 96], [6e-2, 4.3e-2, 3e-2, 2.1e-2], markers: true)
            .Add("Hutch++", [12, 24, 48, 96], [1.4e-1, 2.2e-2, 4.5e-3, 1.8e-3], markers: true);

    private static List<string> Texts(string svg) =>
        XDocument.Parse(svg).Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value.Trim()).ToList();

    [Fact]
    public void PngHasTheSignatureAndTheRequestedSize()
    {
        var png = Convergence().RenderPng();
        Assert.Equal(PngSignature, png[..8]);
        // IHDR is the first chunk: length (4), "IHDR" (4), then width and height, big-endian.
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
        Assert.Equal(640, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.Equal(400, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
    }

    [Fact]
    public void SvgCarriesTitleAxisLabelsLegendAndLogTicks()
    {
        var svg = XDocument.Parse(Convergence().RenderSvg()).Root!;
        Assert.Equal("svg", svg.Name.LocalName);
        Assert.Equal("640", svg.Attribute("width")?.Value);
        var texts = Texts(Convergence().RenderSvg());
        foreach (var t in new[] { "Estimator error", "matrix-vector products", "relative error", "Hutchinson", "Hutch++" })
            Assert.Contains(t, texts);
        // Log axes are labelled with values, not exponents: the y range 1.8e-3 .. 1.4e-1 shows 0.01.
        Assert.Contains("0.01", texts);
        Assert.DoesNotContain("-2", texts);
    }

    [Fact]
    public void ASeriesWithoutLabelHasNoLegend()
    {
        var texts = Texts(new LineChart("t", "x", "y").Add("", [0, 1, 2], [1, 2, 3]).RenderSvg());
        Assert.Contains("t", texts);
        var withLegend = Texts(new LineChart("t", "x", "y").Add("only series", [0, 1, 2], [1, 2, 3]).RenderSvg());
        Assert.Contains("only series", withLegend);
        Assert.Equal(texts.Count + 1, withLegend.Count);
    }

    [Fact]
    public void RenderDispatchesOnTheFormatNamedByTheExtension()
    {
        Assert.Equal(ChartFormat.Png, LineChart.FormatOf("a/b.PNG"));
        Assert.Equal(ChartFormat.Svg, LineChart.FormatOf("b.svg"));
        Assert.Null(LineChart.FormatOf("b.pdf"));
        Assert.Null(LineChart.FormatOf("png"));
        var chart = Convergence();
        Assert.Equal(PngSignature, chart.Render(ChartFormat.Png)[..8]);
        // SkiaSharp numbers clip paths by a process-wide counter, so two renders differ in ids but not in content.
        Assert.Equal(Texts(chart.RenderSvg()), Texts(System.Text.Encoding.UTF8.GetString(chart.Render(ChartFormat.Svg))));
    }

    [Theory]
    [InlineData(1, -5, "1e-5")]
    [InlineData(1, -3, "0.001")]
    [InlineData(2, -2, "0.02")]
    [InlineData(1, 0, "1")]
    [InlineData(5, 2, "500")]
    [InlineData(1, 3, "1000")]
    [InlineData(2, 4, "2e4")]
    public void LogTickLabelsAreTheValues(int mantissa, int exponent, string label) => Assert.Equal(label, LineChart.TickLabel(mantissa, exponent));

    [Fact]
    public void ShortLogRangesAreLabelledAtOneTwoFiveAndLongOnesAtPowersOfTen()
    {
        string[] Labels(double low, double high) =>
            [.. LineChart.LogTickPositions(low, high).Where(t => t.Label is not null).Select(t => t.Label!)];
        // 12 .. 192 matrix-vector products: 1.08 .. 2.28 in log10.
        Assert.Equal(["20", "50", "100"], Labels(Math.Log10(12), Math.Log10(192)));
        Assert.Equal(["1e-8", "1e-7", "1e-6", "1e-5", "1e-4", "0.001", "0.01", "0.1", "1"], Labels(-8, 0));
        // 30 decades: every third power of ten, no minor ticks.
        var wide = LineChart.LogTickPositions(-30, 0);
        Assert.Equal(["1e-30", "1e-27", "1e-24"], wide.Take(3).Select(t => t.Label));
        Assert.DoesNotContain(wide, t => t.Label is null);
    }

    [Fact]
    public void PointsALogAxisCannotShowSplitTheLine()
    {
        var chart = new LineChart("t", "x", "y") { YScale = AxisScale.Log10 };
        var series = new LineChart.Series("s", [1, 2, 3, 4, 5, 6], [10, 100, 0, double.NaN, 1000, -1], false);
        var segments = chart.Segments(series).ToList();
        Assert.Equal(2, segments.Count);
        Assert.Equal([1.0, 2.0], segments[0].X);
        Assert.Equal([1.0, 2.0], segments[0].Y);
        Assert.Equal([5.0], segments[1].X);
        Assert.Equal([3.0], segments[1].Y);
    }

    [Fact]
    public void BadDataIsAnErrorNamingTheChartAndSeries()
    {
        var chart = new LineChart("density", "x", "y") { YScale = AxisScale.Log10 };
        var e = Assert.Throws<ArgumentException>(() => chart.Add("slq", [1, 2, 3], [1, 2]));
        Assert.Contains("'slq'", e.Message);
        Assert.Contains("3 x values but 2 y values", e.Message);
        e = Assert.Throws<ArgumentException>(() => chart.Add("zeros", [1, 2], [0, -1]));
        Assert.Contains("positive on a logarithmic axis", e.Message);
        Assert.Empty(chart.Lines);
        Assert.Contains("no series", Assert.Throws<InvalidOperationException>(() => chart.RenderPng()).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new LineChart("t", "x", "y") { Width = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new LineChart("t", "x", "y") { MaxDecadesY = -1 });
    }
}
