using CurvNative.Autodiff;
using CurvNative.NN.Modules;
using CurvNative.Pinn.Problems;
using CurvNative.Tensors;

namespace CurvNative.Pinn.Training;

/// <summary>
/// The relative L2 error ||u - u*||_2 / ||u*||_2 over E held-out points drawn uniformly in the domain with a fixed seed
/// (independent of the training seed, so runs are comparable).
/// </summary>
public sealed class L2Evaluator
{
    /// <summary>The seed of the held-out points.</summary>
    public const int EvaluationSeed = 20_240_521;

    private const int Chunk = 4096;
    private readonly Tensor<double> _points;
    private readonly Tensor<double> _exact;
    private readonly double _norm;

    /// <summary>E held-out points for <paramref name="problem"/>.</summary>
    public L2Evaluator(PinnProblem problem, int points = 30_000)
    {
        ArgumentNullException.ThrowIfNull(problem);
        if (points < 1) throw new ArgumentOutOfRangeException(nameof(points), $"The number of evaluation points must be positive, got {points}.");
        _points = problem.SampleInterior(new Random(EvaluationSeed), points);
        _exact = problem.Solutions(_points);
        _norm = Math.Sqrt(CurvNative.Tensors.Reductions.Dot<double>(_exact.Span, _exact.Span));
    }

    /// <summary>The relative L2 error of <paramref name="model"/> (no graph is recorded).</summary>
    public double RelativeError(Module<double> model)
    {
        ArgumentNullException.ThrowIfNull(model);
        int n = _points.Shape[0];
        double sum = 0;
        using var noGrad = GradMode.Disable();
        for (int start = 0; start < n; start += Chunk)
        {
            int count = Math.Min(Chunk, n - start);
            var u = model.Forward(Var<double>.Constant(_points.Slice0(start, count))).Value.Span;
            var exact = _exact.Span.Slice(start, count);
            for (int i = 0; i < count; i++) { double e = u[i] - exact[i]; sum += e * e; }
        }
        return Math.Sqrt(sum) / _norm;
    }
}
