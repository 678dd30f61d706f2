using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using CurvNative.Cli.Demo;
using CurvNative.Cli.Reports;
using Spectre.Console;

namespace CurvNative.Cli.Commands;

/// <summary>
/// <c>curvnative demo</c>: trains a small MLP and a small CNN on the bundled digits data set with Adam in float32,
/// with a progress bar per model on a terminal, then prints the report (<see cref="DemoReport"/>).
/// </summary>
internal static class DemoCommand
{
    public const int DefaultEpochs = 20;

    public static Command Create(CliContext context)
    {
        var epochs = CliOptions.PositiveInt("--epochs", "Training epochs per model.", DefaultEpochs, "E");
        var seed = new Option<int>("--seed") { Description = "Seed of the initialisation and of the shuffling.", HelpName = "S", DefaultValueFactory = _ => 0 };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the results (no header, no progress bars)." };
        var noCurvature = new Option<bool>("--no-curvature") { Description = "Skip the curvature report." };
        var plot = ChartFiles.Option("Where to write the chart of the GGN spectral densities ('' for none).", required: false,
            "curvnative-demo-density.png", "curvnative-demo-density.svg");
        var command = new Command("demo", "Train an MLP and a CNN on the bundled 8x8 digits, report their accuracy and their curvature.") { epochs, seed, quiet, noCurvature, plot };
        command.SetAction(parsed =>
        {
            var plotPaths = ChartFiles.Check(parsed.GetValue(plot));
            Run(context, new DemoSettings(parsed.GetValue(epochs), parsed.GetValue(seed)), parsed.GetValue(quiet), !parsed.GetValue(noCurvature), plotPaths);
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Run(CliContext context, DemoSettings settings, bool quiet, bool curvature, IReadOnlyList<string> plotPaths)
    {
        var clock = Stopwatch.StartNew();
        var data = DigitsData.Load();
        bool terminal = ReferenceEquals(context.Out, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(context.Out),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });

        if (!quiet)
        {
            console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                $"[bold]CurvNative demo[/]: 8x8 digits, {DigitsData.TrainSamples:N0} train / {DigitsData.TestSamples} test samples"));
            console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                $"Adam in float32, batch {settings.BatchSize}, {settings.Epochs} epoch{(settings.Epochs == 1 ? "" : "s")}, seed {settings.Seed}"));
        }

        var results = new List<DemoResult>();
        if (!quiet && terminal && console.Profile.Capabilities.Interactive)
        {
            console.Progress()
                .AutoClear(false)
                .HideCompleted(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(progress =>
                {
                    var tasks = DemoModels.All
                        .Select(m => progress.AddTask(Markup.Escape(m.Name), maxValue: DemoTrainer.Steps(settings, data.Train.Count)))
                        .ToList();
                    for (int i = 0; i < tasks.Count; i++)
                    {
                        var task = tasks[i];
                        results.Add(DemoTrainer.Train(DemoModels.All[i], data, settings, () => task.Increment(1)));
                        task.Value = task.MaxValue;
                        task.StopTask();
                    }
                });
        }
        else
        {
            foreach (var model in DemoModels.All) results.Add(DemoTrainer.Train(model, data, settings));
        }

        var run = new DemoRun(data, settings, results, clock.Elapsed);
        DemoReport.Render(console, run, curvature, plotPaths);
        if (!quiet) console.MarkupLine($"[grey]Total {DemoReport.Number(clock.Elapsed.TotalSeconds, "F1")} s[/]");
    }
}
