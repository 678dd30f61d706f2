using System.CommandLine;
using CurvNative.Interop;
using CurvNative.Plots;

namespace CurvNative.Cli.Reports;

/// <summary>
/// The <c>--plot</c> option of the commands that draw a chart: one or more files, each written as PNG or SVG by
/// its extension (<c>--plot density.png density.svg</c>), checked before any work starts and written atomically.
/// </summary>
internal static class ChartFiles
{
    /// <summary>A <c>--plot</c> option taking one or more .png/.svg paths.</summary>
    public static PathListOption Option(string description, bool required, params string[] defaults)
    {
        var option = new PathListOption("--plot", PathRole.Output)
        {
            Description = description + " Each path ends in .png or .svg, which decides its format.",
            Required = required,
            HelpName = "path.png|path.svg",
            AllowMultipleArgumentsPerToken = true,
        };
        if (defaults.Length > 0) option.DefaultValueFactory = _ => defaults;
        return option;
    }

    /// <summary>The non-empty paths given, each checked: a .png or .svg extension, a writable location, no repeats.</summary>
    public static IReadOnlyList<string> Check(string[]? paths, string option = "--plot")
    {
        var result = (paths ?? []).Where(p => p.Length > 0).ToList();
        foreach (var path in result)
        {
            if (LineChart.FormatOf(path) is null)
                throw CliException.Usage($"{path}: {option} writes PNG or SVG, so the path must end in .png or .svg, found '{Path.GetExtension(path)}'.");
            PathChecks.OutputFile(path, option);
        }
        var repeated = result.GroupBy(p => Path.GetFullPath(p)).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null) throw CliException.Usage($"{repeated.Key}: given twice to {option}.");
        return result;
    }

    /// <summary>Renders <paramref name="chart"/> once per path in that path's format and writes it atomically.</summary>
    public static void Write(LineChart chart, IEnumerable<string> paths)
    {
        foreach (var path in paths)
        {
            var bytes = chart.Render(LineChart.FormatOf(path) ?? throw new ArgumentException($"{path}: not a .png or .svg path.", nameof(paths)));
            AtomicFile.Write(path, s => s.Write(bytes));
        }
    }
}
