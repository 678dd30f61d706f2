using CurvNative.Cli.Reports;
using CurvNative.Interop;
using CurvNative.Operators;
using CurvNative.Operators.Curvature;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Plots;
using CurvNative.Solvers.Eigen;
using CurvNative.Solvers.Estimators;
using Spectre.Console;

namespace CurvNative.Cli.Demo;

/// <summary>
/// The curvature of each trained model at its final parameters, on the first <see cref="Samples"/>
/// training samples: top Hessian and GGN eigenvalues (Lanczos), traces (Hutch++; KFAC exactly),
/// KFAC's relative Frobenius error against the GGN (||(KFAC - GGN) Z|| / ||GGN Z|| over Gaussian
/// probes Z), and a chart (PNG/SVG) of the GGN's spectral densities (stochastic Lanczos quadrature).
/// </summary>
internal sealed class CurvatureReportSection(IReadOnlyList<string> plotPaths) : IDemoReportSection
{
    public const int Samples = 256;

    public void Render(IAnsiConsole console, DemoRun run)
    {
        var table = new Table().RoundedBorder().Title("[bold]Curvature[/] (256 training samples)");
        foreach (var c in new[] { "Model", "top |λ| H", "top λ GGN", "tr H", "tr GGN", "tr KFAC", "KFAC err" })
            table.AddColumn(new TableColumn(c).RightAligned());
        LineChart? plot = null;
        foreach (var r in run.Results)
        {
            r.Model.Eval();
            var data = r.Train.Take(Math.Min(Samples, r.Train.Count));
            var hessian = new HessianOperator<float>(r.Model, r.Loss, data);
            var ggn = new GgnOperator<float>(r.Model, r.Loss, data);
            var kfac = new KfacOperator<float>(r.Model, r.Loss, data, new KfacOptions { FisherType = FisherType.Type2 });
            var loose = new LanczosOptions { Tolerance = 1e-3, Seed = run.Settings.Seed };
            var topH = Lanczos.Eigs(hessian, 2, EigenWhich.LargestMagnitude, loose).Eigenvalues;
            var topG = Lanczos.Eigs(ggn, 1, EigenWhich.Largest, loose).Eigenvalues[0];
            var trH = TraceEstimators.HutchPlusPlus(hessian, 60, seed: run.Settings.Seed).Estimate;
            var trG = TraceEstimators.HutchPlusPlus(ggn, 60, seed: run.Settings.Seed).Estimate;
            double error = Math.Sqrt(FrobeniusNormEstimators.Hutchinson(kfac - ggn, 20, ProbeDistribution.Gaussian, run.Settings.Seed).Estimate
                / FrobeniusNormEstimators.Hutchinson(ggn, 20, ProbeDistribution.Gaussian, run.Settings.Seed).Estimate);
            table.AddRow(r.Definition.Name,
                string.Join(" ", topH.Take(2).Select(v => DemoReport.Number(v, "G2"))), DemoReport.Number(topG, "G3"),
                DemoReport.Number(trH, "G3"), DemoReport.Number(trG, "G3"), DemoReport.Number(kfac.Trace(), "G3"), DemoReport.Number(100 * error, "F0") + "%");
            if (plotPaths.Count > 0)
            {
                var density = Spectrum.Estimate(ggn, probes: 4, steps: 30, points: 300, seed: run.Settings.Seed);
                plot ??= Spectrum.Chart("GGN spectral density of the digits models (SLQ)", density.LogScale);
                plot.Add(r.Definition.Name, density.Eigenvalues, density.Density);
            }
        }
        console.Write(table);
        console.MarkupLine("[grey]H: Hessian (Lanczos, Hutch++), GGN (type-2 Fisher), KFAC type-2; KFAC err = ||KFAC - GGN||_F / ||GGN||_F.[/]");
        if (plot is not null)
        {
            ChartFiles.Write(plot, plotPaths);
            console.MarkupLine($"GGN spectral densities: {string.Join(", ", plotPaths.Select(p => $"[underline]{Markup.Escape(Path.GetFullPath(p))}[/]"))}");
        }
    }
}
