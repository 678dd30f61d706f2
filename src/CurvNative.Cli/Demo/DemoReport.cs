using System.Globalization;
using Spectre.Console;

namespace CurvNative.Cli.Demo;

/// <summary>Everything a finished demo run produced: the data, the settings and each trained model.</summary>
internal sealed record DemoRun(DigitsData Data, DemoSettings Settings, IReadOnlyList<DemoResult> Results, TimeSpan Elapsed);

/// <summary>
/// One section of the demo's report, printed after training in the order of <see cref="DemoReport.Sections"/>.
/// New analyses (curvature reports, ...) are added as further sections.
/// </summary>
internal interface IDemoReportSection
{
    /// <summary>Writes the section.</summary>
    void Render(IAnsiConsole console, DemoRun run);
}

/// <summary>The demo's report.</summary>
internal static class DemoReport
{
    /// <summary>The sections, in print order: training results, then (unless skipped) the curvature report
    /// with its density plot written to each of <paramref name="plotPaths"/> (.png or .svg).</summary>
    public static IReadOnlyList<IDemoReportSection> Sections(bool curvature, IReadOnlyList<string> plotPaths)
        => curvature ? [new TrainingResultsSection(), new CurvatureReportSection(plotPaths)] : [new TrainingResultsSection()];

    public static void Render(IAnsiConsole console, DemoRun run, bool curvature = true, IReadOnlyList<string>? plotPaths = null)
    {
        foreach (var section in Sections(curvature, plotPaths ?? [])) section.Render(console, run);
    }

    internal static string Number(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}

/// <summary>Final train loss, test loss and test accuracy per model.</summary>
internal sealed class TrainingResultsSection : IDemoReportSection
{
    public void Render(IAnsiConsole console, DemoRun run)
    {
        var table = new Table()
            .Border(TableBorder.Rounded)
            .AddColumn("Model")
            .AddColumn(new TableColumn("Params").RightAligned())
            .AddColumn(new TableColumn("Train loss").RightAligned())
            .AddColumn(new TableColumn("Test loss").RightAligned())
            .AddColumn(new TableColumn("Test accuracy").RightAligned())
            .AddColumn(new TableColumn("Time").RightAligned())
            .Caption(string.Join("; ", run.Results.Select(r => $"{Markup.Escape(r.Definition.Name)}: {Markup.Escape(r.Definition.Summary)}")),
                new Style(Color.Grey));
        foreach (var r in run.Results)
        {
            table.AddRow(
                $"[bold]{Markup.Escape(r.Definition.Name)}[/]",
                r.ParameterCount.ToString("N0", CultureInfo.InvariantCulture),
                DemoReport.Number(r.TrainLoss, "F4"),
                DemoReport.Number(r.TestLoss, "F4"),
                $"[green]{DemoReport.Number(100 * r.TestAccuracy, "F1")}%[/]",
                DemoReport.Number(r.Elapsed.TotalSeconds, "F1") + " s");
        }
        console.Write(table);
    }
}
