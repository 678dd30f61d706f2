using System.Text.RegularExpressions;
using Xunit;
using static CurvNative.Tests.Cli.CliRunner;

namespace CurvNative.Tests.Cli;

/// <summary>A short run of <c>curvnative demo</c> (one epoch, quiet).</summary>
public class DemoCommandTests
{
    [Fact]
    public void OneQuietEpochPrintsBothModelsAccuracy()
    {
        // The training table only: the curvature report has rows named after the models too (CliTests covers it).
        var run = Run("demo", "--epochs", "1", "--quiet", "--no-curvature");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("", run.Error);
        foreach (var model in new[] { "MLP", "CNN" })
        {
            var row = run.Out.Split('\n').SingleOrDefault(l => l.Contains(model, StringComparison.Ordinal) && l.Contains('%'));
            Assert.True(row is not null, $"no result row for {model}:\n{run.Out}");
            var accuracy = double.Parse(Regex.Match(row, @"(\d+\.\d)%").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(accuracy, 50, 100); // one epoch already learns most digits
        }
        Assert.DoesNotContain("\u001b[", run.Out); // no ANSI codes when the output is not a terminal
    }
}
