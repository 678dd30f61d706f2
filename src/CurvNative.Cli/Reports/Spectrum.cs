using System.Numerics;
using CurvNative.Operators;
using CurvNative.Plots;
using CurvNative.Solvers.Eigen;

namespace CurvNative.Cli.Reports;

/// <summary>A spectral density on a grid chosen from the operator's extreme eigenvalues. With
/// <see cref="LogScale"/>, <see cref="Grid"/> holds log10(eigenvalue) and the density is per unit of log10
/// (per decade); otherwise the grid holds eigenvalues.</summary>
internal sealed record SpectrumEstimate(double[] Grid, double[] Density, bool LogScale, int MatVecs)
{
    /// <summary>The grid as eigenvalues.</summary>
    public double[] Eigenvalues => LogScale ? [.. Grid.Select(g => Math.Pow(10, g))] : Grid;
}

/// <summary>
/// Chooses the grid and broadening for stochastic Lanczos quadrature: for PSD operators the log-spectrum
/// variant on a log-spaced grid spanning eight decades below the largest eigenvalue; otherwise the
/// linear density between the smallest and largest eigenvalues (each located by a few Lanczos steps).
/// </summary>
internal static class Spectrum
{
    public static SpectrumEstimate Estimate<T>(LinearOperator<T> op, int probes, int steps, int points, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var loose = new LanczosOptions { Tolerance = 1e-3, Seed = seed };
        var top = Lanczos.Eigs(op, 1, EigenWhich.Largest, loose);
        double max = top.Eigenvalues[0];
        if (op.IsPositiveSemiDefinite && max > 0)
        {
            var grid = SpectralDensity.LogGrid(max * 1e-8, max * 2, points);
            var d = SpectralDensity.SlqLog(op, probes, steps, grid, sigma: 0.1, epsilon: max * 1e-10, seed: seed);
            return new SpectrumEstimate(grid.Select(Math.Log10).ToArray(), d.Density.Select((v, i) => v * grid[i] * Math.Log(10)).ToArray(), true, top.MatVecs + d.MatVecs);
        }
        var bottom = Lanczos.Eigs(op, 1, EigenWhich.Smallest, loose);
        double min = bottom.Eigenvalues[0], margin = Math.Max(1e-12, (max - min) * 0.05);
        var linear = SpectralDensity.LinearGrid(min - margin, max + margin, points);
        var density = SpectralDensity.Slq(op, probes, steps, linear, sigma: Math.Max(1e-12, (max - min) / 100), seed: seed);
        return new SpectrumEstimate(linear, density.Density.ToArray(), false, top.MatVecs + bottom.MatVecs + density.MatVecs);
    }

    /// <summary>An empty chart for densities from <see cref="Estimate{T}"/>: the density on a log axis, and for
    /// log-spectrum estimates the eigenvalues on a log axis too (eight decades below the largest).</summary>
    public static LineChart Chart(string title, bool logScale) => logScale
        ? new LineChart(title, "eigenvalue (eigenvalues below 1e-8 of the largest, e.g. zeros, are not shown)", "density per decade of eigenvalue")
        {
            XScale = AxisScale.Log10, YScale = AxisScale.Log10,
        }
        : new LineChart(title, "eigenvalue", "density") { YScale = AxisScale.Log10 };
}
