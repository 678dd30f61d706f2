using CurvNative.Pinn.Problems;
using CurvNative.Tensors;

namespace CurvNative.Pinn.Training;

/// <summary>The collocation points of one step: interior points X_Omega [N_Omega, D] and boundary points X_dOmega [N_dOmega, D].</summary>
/// <param name="Interior">Interior points.</param>
/// <param name="Boundary">Boundary (and initial) points.</param>
public sealed record PinnBatch(Tensor<double> Interior, Tensor<double> Boundary)
{
    /// <summary>N = N_Omega + N_dOmega, the length of the stacked residual.</summary>
    public int Count => Interior.Shape[0] + Boundary.Shape[0];

    /// <summary>
    /// The points of step <paramref name="step"/> of a run with seed <paramref name="seed"/>: a generator seeded from
    /// (seed, step) alone (SplitMix64 mix), so a resumed run draws the same points as an uninterrupted one.
    /// </summary>
    public static PinnBatch Draw(PinnProblem problem, int interior, int boundary, int seed, long step)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var rng = new Random(Mix(seed, step));
        var x = problem.SampleInterior(rng, interior);
        return new PinnBatch(x, problem.SampleBoundary(rng, boundary));
    }

    /// <summary>A 31-bit seed from a seed and a counter (SplitMix64 finaliser).</summary>
    internal static int Mix(int seed, long counter)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)counter * 0xD1B54A32D192ED03UL + 0x632BE59BD9B4E019UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return (int)((z ^ (z >> 31)) & 0x7FFFFFFF);
    }
}
