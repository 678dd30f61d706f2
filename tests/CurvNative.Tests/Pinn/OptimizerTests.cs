using CurvNative.Operators;
using CurvNative.Pinn;
using CurvNative.Pinn.Optimizers;
using CurvNative.Pinn.Problems;
using CurvNative.Pinn.Training;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Pinn;

public class OptimizerTests
{
    private static ResidualLinearization RandomLinearization(int n, int p, int seed)
    {
        var rng = new Random(seed);
        var j = Tensor<double>.Zeros(n, p);
        var r = Tensor<double>.Zeros(n);
        for (int i = 0; i < j.Length; i++) j.Span[i] = 2 * rng.NextDouble() - 1;
        for (int i = 0; i < n; i++) r.Span[i] = 2 * rng.NextDouble() - 1;
        return new ResidualLinearization(r, j, Space.Flat(p));
    }

    /// <summary>(J^T J + lambda I)^-1 J^T r by an independent dense solve (Gaussian elimination with partial pivoting).</summary>
    private static double[] Reference(ResidualLinearization lin, double lambda)
    {
        int n = lin.Rows, p = lin.Columns;
        var j = lin.Jacobian.Span; var r = lin.Residual.Span;
        var a = new double[p, p + 1];
        for (int x = 0; x < p; x++)
        {
            for (int y = 0; y < p; y++)
            {
                double s = 0;
                for (int i = 0; i < n; i++) s += j[i * p + x] * j[i * p + y];
                a[x, y] = s + (x == y ? lambda : 0);
            }
            double g = 0;
            for (int i = 0; i < n; i++) g += j[i * p + x] * r[i];
            a[x, p] = g;
        }
        for (int c = 0; c < p; c++)
        {
            int piv = c;
            for (int i = c + 1; i < p; i++) if (Math.Abs(a[i, c]) > Math.Abs(a[piv, c])) piv = i;
            for (int k = 0; k <= p; k++) (a[c, k], a[piv, k]) = (a[piv, k], a[c, k]);
            for (int i = 0; i < p; i++)
            {
                if (i == c) continue;
                double f = a[i, c] / a[c, c];
                for (int k = c; k <= p; k++) a[i, k] -= f * a[c, k];
            }
        }
        var x0 = new double[p];
        for (int i = 0; i < p; i++) x0[i] = a[i, p] / a[i, i];
        return x0;
    }

    private static void AssertClose(double[] expected, ReadOnlySpan<double> actual, double rtol)
    {
        double scale = expected.Max(Math.Abs), worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= rtol * scale, $"max deviation {worst:G3} against scale {scale:G3}");
    }

    [Theory]
    [InlineData(12, 40, 1e-3)]  // N < P: the kernel is full rank, the Gramian is not
    [InlineData(40, 12, 1e-3)]  // N > P
    [InlineData(1, 7, 1e-2)]
    [InlineData(17, 17, 1e-4)]
    public void WoodburyAndDenseStepsEqualTheDampedSolve(int n, int p, double lambda)
    {
        var lin = RandomLinearization(n, p, n * 31 + p);
        var expected = Reference(lin, lambda);
        var (dense, m1) = NaturalGradient.Dense(lin, lambda);
        var (woodbury, m2) = NaturalGradient.Woodbury(lin, lambda);
        Assert.Equal(DampedSolveMethod.Cholesky, m1);
        Assert.Equal(DampedSolveMethod.Cholesky, m2);
        AssertClose(expected, dense.Span, 1e-9);
        AssertClose(expected, woodbury.Span, 1e-9);
    }

    [Fact]
    public void WoodburyEqualsDenseOnAPinnLinearization()
    {
        var (map, batch) = ResidualMapTests.Small("poisson2d", [8], 9, 4); // N = 13 < P = 33
        var lin = map.Linearize(batch);
        AssertClose(Reference(lin, 1e-6), NaturalGradient.Woodbury(lin, 1e-6).Direction.Span, 1e-7);
        AssertClose(Reference(lin, 1e-6), NaturalGradient.Dense(lin, 1e-6).Direction.Span, 1e-7);
    }

    [Fact]
    public void SingularSystemsFallBackToThePseudoInverse()
    {
        // N > P with a rank-one J and no damping: J J^T is singular; the fallback gives the least-norm solution J^+ r.
        var j = Tensor<double>.Zeros(5, 3);
        var r = Tensor<double>.FromArray([1.0, 2, 3, 4, 5], 5);
        for (int i = 0; i < 5; i++) { j.Span[i * 3] = i + 1; j.Span[i * 3 + 1] = 2 * (i + 1); }
        var lin = new ResidualLinearization(r, j, Space.Flat(3));
        var (phi, method) = NaturalGradient.Woodbury(lin, 0);
        Assert.Equal(DampedSolveMethod.Eigen, method);
        // J = a b^T with a = (1..5), b = (1, 2, 0); J^+ r = b (a.r) / (|a|^2 |b|^2) = b / 5.
        AssertClose([0.2, 0.4, 0], phi.Span, 1e-10);
    }

    /// <summary>Steps along +/- the gradient with the grid line search.</summary>
    private sealed class GradientLineSearch(double sign) : PinnOptimizer
    {
        public override string Name => "gradient";

        public override PinnStepInfo Step(ResidualMap map, PinnBatch batch, long step)
        {
            var (loss, g) = map.LossAndGradient(batch);
            var direction = g.ToArray();
            for (int i = 0; i < direction.Length; i++) direction[i] *= sign;
            var (eta, note) = TakeStep(map, batch, direction, new StepSizeRule.GridLineSearch());
            return new PinnStepInfo(loss, eta, note);
        }
    }

    [Fact]
    public void TheLineSearchTakesNoStepWhenNoGridPointLowersTheLoss()
    {
        // rla-pinns' grid_line_search keeps theta when no eta in {2^-30, ..., 1} beats eta = 0. Along -grad (theta += eta
        // grad) every grid point raises the loss; the least-bad one must not be taken.
        var (map, batch) = ResidualMapTests.Small("poisson2d", [8], 9, 4);
        var theta = map.GetParameters().ToArray();
        double before = map.Loss(batch);
        var ascent = new GradientLineSearch(-1).Step(map, batch, 1);
        Assert.Equal(0, ascent.StepSize);
        Assert.Contains("no grid step lowers the loss", ascent.Note);
        Assert.Equal(theta, map.GetParameters().ToArray());
        // Along +grad the search does step, and lowers the loss.
        var descent = new GradientLineSearch(1).Step(map, batch, 1);
        Assert.True(descent.StepSize > 0);
        Assert.True(map.Loss(batch) < before);
    }

    [Theory]
    [InlineData(15, 40)]
    [InlineData(25, 60)]
    public void NystromWithAFullSketchIsTheExactStepShiftedByNu(int n, int p)
    {
        var lin = RandomLinearization(n, p, 5 + n);
        const double lambda = 1e-2;
        var (phi, nu, method) = NaturalGradient.Nystrom(lin, lambda, n, new Random(1));
        Assert.Equal(DampedSolveMethod.Cholesky, method);
        Assert.InRange(nu, 0, 1e-11);
        AssertClose(Reference(lin, lambda + nu), phi.Span, 1e-7);
        // A half sketch is an approximation: a different step.
        var (half, _, _) = NaturalGradient.Nystrom(lin, lambda, n / 2, new Random(1));
        double diff = 0;
        for (int i = 0; i < p; i++) diff = Math.Max(diff, Math.Abs(half.Span[i] - phi.Span[i]));
        Assert.True(diff > 1e-6);
    }

    private static double[] Train(PinnOptimizer optimizer, string problem = "poisson2d", int steps = 3, int seed = 2)
    {
        var p = PinnProblem.Create(problem);
        var model = PinnNetwork.Mlp(p.Dimension, [10], seed);
        var trainer = new PinnTrainer(p, model, optimizer, new PinnTrainingOptions(20, 8, seed, 500, 1));
        trainer.Run(steps, null);
        return trainer.Map.GetParameters().ToArray();
    }

    [Fact]
    public void SpringWithoutMomentumIsEngdWoodbury()
    {
        var rule = new StepSizeRule.Fixed(0.5);
        var woodbury = Train(new WoodburyOptimizer(1e-6, rule));
        var spring = Train(new SpringOptimizer(1e-6, 0, rule));
        AssertClose(woodbury, spring, 1e-12);
        var momentum = Train(new SpringOptimizer(1e-6, 0.5, rule));
        Assert.True(woodbury.Zip(momentum).Max(t => Math.Abs(t.First - t.Second)) > 1e-6);
    }

    [Fact]
    public void EngdDenseAndWoodburyTakeTheSameSteps()
    {
        var rule = new StepSizeRule.GridLineSearch();
        AssertClose(Train(new EngdOptimizer(1e-6, rule)), Train(new WoodburyOptimizer(1e-6, rule)), 1e-8);
    }

    [Fact]
    public void HessianFreeConvergedCgIsTheDenseStep()
    {
        var rule = new StepSizeRule.Fixed(0.3);
        AssertClose(Train(new EngdOptimizer(1e-2, rule), steps: 2), Train(new HessianFreeOptimizer(1e-2, rule, 2000, 1e-13), steps: 2), 1e-7);
    }

    [Fact]
    public void TheSameSeedGivesTheSameHistory()
    {
        PinnHistory Run(int seed)
        {
            var p = PinnProblem.Create("poisson2d");
            var trainer = new PinnTrainer(p, PinnNetwork.Mlp(2, [12], seed), new SpringOptimizer(1e-8, 0.3, new StepSizeRule.GridLineSearch()),
                new PinnTrainingOptions(40, 12, seed, 300, 2));
            trainer.Run(6, null);
            return trainer.History;
        }
        var a = Run(4); var b = Run(4); var c = Run(5);
        Assert.Equal(a.Step, b.Step);
        Assert.Equal(a.Loss, b.Loss);
        Assert.Equal(a.RelativeL2, b.RelativeL2);
        Assert.NotEqual(a.Loss, c.Loss);
    }

    [Fact]
    public void ResumingFromStateContinuesTheSameRun()
    {
        var p = PinnProblem.Create("poisson2d");
        var options = new PinnTrainingOptions(30, 10, 3, 300, 1);
        static SpringOptimizer Spring() => new(1e-6, 0.5, new StepSizeRule.GridLineSearch());
        var whole = new PinnTrainer(p, PinnNetwork.Mlp(2, [9], 3), Spring(), options);
        whole.Run(4, null);
        var first = new PinnTrainer(p, PinnNetwork.Mlp(2, [9], 3), Spring(), options);
        first.Run(2, null);
        var second = new PinnTrainer(p, PinnNetwork.Mlp(2, [9], 0), Spring(), options);
        second.Map.SetParameters(first.Map.GetParameters().Span);
        second.Restore(first.History, first.Steps, first.ElapsedSeconds, first.Optimizer.State());
        second.Run(4, null);
        Assert.True(whole.History.Loss[^1] < 0.6 * whole.History.Loss[0], string.Join(", ", whole.History.Loss));
        AssertClose(whole.Map.GetParameters().ToArray(), second.Map.GetParameters().Span, 0);
        Assert.Equal(whole.History.Loss, second.History.Loss);
    }

    [Fact]
    public void AdamDescendsTheLoss()
    {
        var p = PinnProblem.Create("poisson2d");
        var trainer = new PinnTrainer(p, PinnNetwork.Mlp(2, [16], 1), new AdamOptimizer(1e-2), new PinnTrainingOptions(100, 40, 1, 1000, 50));
        trainer.Run(200, null);
        Assert.True(trainer.History.Loss[^1] < 0.2 * trainer.History.Loss[0], $"{trainer.History.Loss[0]} -> {trainer.History.Loss[^1]}");
    }

    [Fact]
    public void ShortPoisson2dWoodburyRunReachesRelativeL2Below1e3()
    {
        var p = PinnProblem.Create("poisson2d");
        var trainer = new PinnTrainer(p, PinnNetwork.Mlp(2, [64], 0), new WoodburyOptimizer(1e-10, new StepSizeRule.GridLineSearch()),
            new PinnTrainingOptions(400, 80, 0, 2000, 100));
        var last = trainer.Run(100, null);
        Assert.True(last.RelativeL2 < 1e-3, $"relative L2 {last.RelativeL2:G3} after {last.Step} steps");
    }
}
