using CurvNative.Operators;
using CurvNative.Solvers;
using CurvNative.Tensors;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static CurvNative.Tests.Solvers.TestMatrices;

namespace CurvNative.Tests.Solvers;

/// <summary>CG and MINRES against dense LAPACK solves, statuses on crafted inputs, and argument errors.</summary>
public class KrylovSolverTests
{
    private static Tensor<double> Vec(double[] x) => Tensor<double>.FromArray((double[])x.Clone(), x.Length);

    [Theory]
    [InlineData(2.0, 1e-13, 1e-10)]
    [InlineData(3.0, 1e-13, 1e-10)]
    [InlineData(5.0, 1e-11, 1e-6)] // forward error <= cond * residual
    public void CgMatchesDenseSolveOnPositiveDefiniteMatrix(double logCond, double tol, double errTol)
    {
        var m = SpectralMatrix.Create(Geometric(80, logCond), seed: 3);
        var b = GaussianVector(80, 4);
        var r = new ConjugateGradient<double>(m.Operator(), options: new() { Tolerance = tol }).Solve(Vec(b));
        Assert.True(r.Status == SolveStatus.Converged, r.ToString());
        Assert.True(r.ResidualNorm <= tol, r.ToString());
        double err = RelativeError(DenseSolve(m.A, 80, b), r.Solution.Span);
        Assert.True(err < errTol, $"relative error {err:E2} ({r})");
    }

    [Fact]
    public void CgSolvesManyRightHandSidesAsOneBatch()
    {
        var m = SpectralMatrix.Create(Geometric(50, 3), seed: 5);
        var solver = new ConjugateGradient<double>(m.Operator(), options: new() { Tolerance = 1e-12 });
        var b = GaussianMatrix(50, 4, 6);
        for (int i = 0; i < 50; i++) b[i * 4 + 2] = 0; // one zero column
        var r = solver.Solve(Tensor<double>.FromArray(b, 50, 4));
        Assert.Equal(SolveStatus.Converged, r.Status);
        Assert.Equal([50, 4], r.Solution.ShapeArray);
        Assert.Equal(0, r.ColumnIterations[2]);
        for (int c = 0; c < 4; c++)
        {
            var bc = Enumerable.Range(0, 50).Select(i => b[i * 4 + c]).ToArray();
            var xc = Enumerable.Range(0, 50).Select(i => r.Solution.Span[i * 4 + c]).ToArray();
            if (c == 2) { Assert.All(xc, v => Assert.Equal(0, v)); continue; }
            Assert.True(RelativeError(DenseSolve(m.A, 50, bc), xc) < 1e-10, $"column {c}");
            var single = solver.Solve(Vec(bc));
            Assert.Equal(single.Iterations, r.ColumnIterations[c]);
        }
    }

    [Fact]
    public void CgWithDampingSolvesShiftedIndefiniteSystem()
    {
        // A has eigenvalues in [−1, 3]; A + 1.5 I is positive definite.
        var l = Enumerable.Range(0, 40).Select(i => -1 + 4.0 * i / 39).ToArray();
        var m = SpectralMatrix.Create(l, seed: 7);
        var b = GaussianVector(40, 8);
        var r = new ConjugateGradient<double>(m.Operator(), options: new() { Tolerance = 1e-12, Damping = 1.5 }).Solve(Vec(b));
        Assert.Equal(SolveStatus.Converged, r.Status);
        Assert.True(RelativeError(DenseSolve(m.A, 40, b, shift: 1.5), r.Solution.Span) < 1e-10);
    }

    [Fact]
    public void JacobiPreconditionerReducesIterationsOnBadlyScaledMatrix()
    {
        // D^{1/2} B D^{1/2} with a well-conditioned B and a diagonal scaling over six orders of magnitude.
        int n = 60;
        var bm = SpectralMatrix.Create(Geometric(n, 1), seed: 9);
        var s = Enumerable.Range(0, n).Select(i => Math.Pow(10, 3.0 * i / (n - 1))).ToArray();
        var a = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) a[i * n + j] = s[i] * bm.A[i * n + j] * s[j];
        var op = new DenseOperator<double>(Tensor<double>.FromArray(a, n, n), isSymmetric: true, isPositiveSemiDefinite: true);
        var jacobi = new DiagonalOperator<double>(Tensor<double>.FromArray(Enumerable.Range(0, n).Select(i => 1 / a[i * n + i]).ToArray(), n));
        var b = GaussianVector(n, 10);
        var options = new SolverOptions { Tolerance = 1e-10, MaxIterations = 2000 };
        var plain = new ConjugateGradient<double>(op, options: options).Solve(Vec(b));
        var pre = new ConjugateGradient<double>(op, jacobi, options).Solve(Vec(b));
        Assert.Equal(SolveStatus.Converged, pre.Status);
        Assert.True(RelativeError(DenseSolve(a, n, b), pre.Solution.Span) < 1e-6);
        Assert.True(pre.Iterations * 3 < plain.Iterations, $"preconditioned {pre.Iterations} vs plain {plain.Iterations} iterations");
    }

    [Fact]
    public void MinresAndCgSolveRandomSystems_Property()
    {
        // Random sizes (including n = 1) and batch widths; MINRES on indefinite spectra, CG on positive ones.
        var cases = Gen.Choose(1, 40).SelectMany(n => Gen.Choose(1, 3).SelectMany(k =>
            Gen.Choose(0, int.MaxValue).Select(seed => (n, k, seed))));
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var (n, k, seed) = c;
            var rng = new Random(seed);
            var l = Enumerable.Range(0, n).Select(_ => (rng.Next(2) == 0 ? -1 : 1) * (0.1 + rng.NextDouble())).ToArray();
            var indefinite = SpectralMatrix.Create(l, seed);
            var positive = SpectralMatrix.Create([.. l.Select(Math.Abs)], seed);
            var b = GaussianMatrix(n, k, seed + 1);
            var options = new SolverOptions { Tolerance = 1e-12 };
            var rm = new Minres<double>(indefinite.Operator(), options: options).Solve(Tensor<double>.FromArray(b, n, k));
            var rc = new ConjugateGradient<double>(positive.Operator(), options: options).Solve(Tensor<double>.FromArray(b, n, k));
            bool ok = rm.Converged && rc.Converged;
            for (int col = 0; col < k && ok; col++)
            {
                var bc = Enumerable.Range(0, n).Select(i => b[i * k + col]).ToArray();
                ok &= RelativeError(DenseSolve(indefinite.A, n, bc), Enumerable.Range(0, n).Select(i => rm.Solution.Span[i * k + col]).ToArray()) < 1e-9;
                ok &= RelativeError(DenseSolve(positive.A, n, bc), Enumerable.Range(0, n).Select(i => rc.Solution.Span[i * k + col]).ToArray()) < 1e-9;
            }
            return ok;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void CgReportsMaxIterationsAndThrowsOnRequest()
    {
        var m = SpectralMatrix.Create(Geometric(100, 6), seed: 11);
        var b = Vec(GaussianVector(100, 12));
        var r = new ConjugateGradient<double>(m.Operator(), options: new() { MaxIterations = 5 }).Solve(b);
        Assert.Equal(SolveStatus.MaxIterations, r.Status);
        Assert.Equal(5, r.Iterations);
        Assert.True(r.ResidualNorm > 1e-8);
        Assert.Contains("iteration limit 5", r.Message);
        var ex = Assert.Throws<SolveFailedException>(() =>
            new ConjugateGradient<double>(m.Operator(), options: new() { MaxIterations = 5, ThrowOnFailure = true }).Solve(b));
        Assert.Equal(SolveStatus.MaxIterations, ex.Status);
    }

    [Fact]
    public void CgDetectsIndefiniteOperator()
    {
        var op = new DiagonalOperator<double>(Tensor<double>.FromArray([1.0, -1.0, 2.0], 3));
        var r = new ConjugateGradient<double>(op).Solve(Tensor<double>.FromArray([0.0, 1.0, 0.0], 3));
        Assert.Equal(SolveStatus.IndefiniteDetected, r.Status);
        Assert.Equal(1, r.Iterations);
        Assert.Contains("MINRES", r.Message);
        // Also detected later in the iteration, and the solution is the last valid iterate (finite).
        var m = SpectralMatrix.Create(Indefinite(30, 1), seed: 2);
        var r2 = new ConjugateGradient<double>(m.Operator()).Solve(Vec(GaussianVector(30, 3)));
        Assert.Equal(SolveStatus.IndefiniteDetected, r2.Status);
        Assert.True(r2.Solution.AllFinite());
    }

    [Fact]
    public void CgReportsBreakdownWhenTheOperatorReturnsNaN()
    {
        var d = Tensor<double>.FromArray([1.0, double.NaN, 2.0], 3);
        var r = new ConjugateGradient<double>(new DiagonalOperator<double>(d)).Solve(Tensor<double>.FromArray([1.0, 1.0, 1.0], 3));
        Assert.Equal(SolveStatus.Breakdown, r.Status);
        Assert.Contains("NaN", r.Message);
    }

    [Fact]
    public void ZeroRightHandSideGivesZeroSolution()
    {
        var m = SpectralMatrix.Create(Geometric(10, 1), seed: 1);
        var r = new Minres<double>(m.Operator()).Solve(Tensor<double>.Zeros(10), x0: Tensor<double>.Full(1.0, 10));
        Assert.Equal(SolveStatus.Converged, r.Status);
        Assert.Equal(0, r.Iterations);
        Assert.All(r.Solution.ToArray(), v => Assert.Equal(0, v));
    }

    [Fact]
    public void SolversRefuseNonSymmetricOperatorAndBadInput()
    {
        var m = SpectralMatrix.Create(Geometric(6, 1), seed: 1);
        var ex = Assert.Throws<ArgumentException>(() => new ConjugateGradient<double>(m.Operator(flagSymmetric: false)));
        Assert.Contains("not flagged symmetric", ex.Message);
        Assert.Equal("op", ex.ParamName);
        Assert.Throws<ArgumentException>(() => new Minres<double>(m.Operator(flagSymmetric: false)));

        var cg = new ConjugateGradient<double>(m.Operator());
        var shape = Assert.Throws<ArgumentException>(() => cg.Solve(Tensor<double>.Zeros(5)));
        Assert.Contains("[6] or [6, K]", shape.Message);
        Assert.Contains("[5]", shape.Message);
        var nan = Assert.Throws<ArgumentException>(() => cg.Solve(Tensor<double>.FromArray([1, 2, double.NaN, 4, 5, 6.0], 6)));
        Assert.Contains("NaN", nan.Message);
        Assert.Throws<ArgumentException>(() => cg.Solve(Tensor<double>.Zeros(6), Tensor<double>.Zeros(6, 1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConjugateGradient<double>(m.Operator(), options: new() { Tolerance = -1 }));
        var wrongPre = new DiagonalOperator<double>(Tensor<double>.Full(1.0, 5));
        var pre = Assert.Throws<ArgumentException>(() => new ConjugateGradient<double>(m.Operator(), wrongPre));
        Assert.Contains("[[5]]", pre.Message);
    }

    [Fact]
    public void MinresMatchesDenseSolveOnIndefiniteMatrix()
    {
        var m = SpectralMatrix.Create(Indefinite(80, 2), seed: 13);
        var b = GaussianMatrix(80, 3, 14);
        var r = new Minres<double>(m.Operator(), options: new() { Tolerance = 1e-13 }).Solve(Tensor<double>.FromArray(b, 80, 3));
        Assert.Equal(SolveStatus.Converged, r.Status);
        for (int c = 0; c < 3; c++)
        {
            var bc = Enumerable.Range(0, 80).Select(i => b[i * 3 + c]).ToArray();
            var xc = Enumerable.Range(0, 80).Select(i => r.Solution.Span[i * 3 + c]).ToArray();
            double err = RelativeError(DenseSolve(m.A, 80, bc), xc);
            Assert.True(err < 1e-10, $"column {c}: relative error {err:E2}");
        }
    }

    [Fact]
    public void MinresWithDampingAndPreconditionerMatchesDenseSolve()
    {
        var m = SpectralMatrix.Create(Clustered(60, 4), seed: 15);
        var b = GaussianVector(60, 16);
        var pre = new DiagonalOperator<double>(Tensor<double>.FromArray(Enumerable.Range(0, 60).Select(i => 1.0 / (1 + i % 3)).ToArray(), 60));
        var r = new Minres<double>(m.Operator(), pre, new() { Tolerance = 1e-12, Damping = 0.25 }).Solve(Vec(b));
        Assert.Equal(SolveStatus.Converged, r.Status);
        Assert.True(RelativeError(DenseSolve(m.A, 60, b, shift: 0.25), r.Solution.Span) < 1e-10, r.ToString());
    }

    [Fact]
    public void MinresAndCgOnRealCurvatureMatchDenseSolves()
    {
        // Hessian of an MLP with cross-entropy (indefinite, 43 parameters) by MINRES with a small damping.
        var (h, hd, n) = Hessian();
        var eig = Eigenvalues(hd, n);
        Assert.True(eig[0] < 0 && eig[^1] > 0, "the test Hessian should be indefinite");
        double shift = 1e-3;
        var b = GaussianVector(n, 21);
        var rm = new Minres<double>(h, options: new() { Tolerance = 1e-13, Damping = shift, MaxIterations = 2000 }).Solve(Vec(b));
        Assert.Equal(SolveStatus.Converged, rm.Status);
        double errM = RelativeError(DenseSolve(hd, n, b, shift), rm.Solution.Span);
        Assert.True(errM < 1e-9, $"MINRES on the Hessian: relative error {errM:E2} ({rm})");

        // GGN (PSD, rank-deficient) + damping by CG.
        var (g, gd, ng) = Ggn();
        var rc = new ConjugateGradient<double>(g, options: new() { Tolerance = 1e-13, Damping = 1e-2 }).Solve(Vec(b));
        Assert.Equal(SolveStatus.Converged, rc.Status);
        double errC = RelativeError(DenseSolve(gd, ng, b, 1e-2), rc.Solution.Span);
        Assert.True(errC < 1e-10, $"CG on the damped GGN: relative error {errC:E2} ({rc})");
    }

    [Fact]
    public void FloatSolversConvergeToFloatAccuracy()
    {
        var m = SpectralMatrix.Create(Geometric(50, 2), seed: 17);
        var b = GaussianVector(50, 18);
        var bf = Tensor<double>.FromArray(b, 50).Cast<float>();
        var cg = new ConjugateGradient<float>(m.OperatorF(), options: new() { Tolerance = 1e-5 }).Solve(bf);
        Assert.Equal(SolveStatus.Converged, cg.Status);
        Assert.True(RelativeError(DenseSolve(m.A, 50, b), ToDouble(cg.Solution)) < 1e-3);
        var mi = SpectralMatrix.Create(Indefinite(50, 3), seed: 19);
        var mr = new Minres<float>(mi.OperatorF(), options: new() { Tolerance = 1e-5 }).Solve(bf);
        Assert.Equal(SolveStatus.Converged, mr.Status);
        Assert.True(RelativeError(DenseSolve(mi.A, 50, b), ToDouble(mr.Solution)) < 1e-3);
    }

    [Fact]
    public void UnattainableToleranceInFloatIsReportedAsStagnation()
    {
        var m = SpectralMatrix.Create(Geometric(50, 3), seed: 20);
        var bf = Tensor<double>.FromArray(GaussianVector(50, 21), 50).Cast<float>();
        var r = new ConjugateGradient<float>(m.OperatorF(), options: new() { Tolerance = 1e-12 }).Solve(bf);
        Assert.NotEqual(SolveStatus.Converged, r.Status);
        Assert.True(r.Solution.AllFinite());
    }

    /// <summary>diag(1, 0) with b = (1, 1): the second CG direction is (0, 2), whose curvature is exactly 0. That is a
    /// singular positive semi-definite system, not an indefinite one: CG must not report a negative eigenvalue.</summary>
    [Fact]
    public void ZeroCurvatureOfASemidefiniteSystemIsNotReportedAsIndefinite()
    {
        var op = new DiagonalOperator<double>(Tensor<double>.FromArray([1.0, 0.0], 2));
        var r = new ConjugateGradient<double>(op).Solve(Tensor<double>.FromArray([1.0, 1.0], 2));
        Assert.Equal(SolveStatus.ToleranceNotAttainable, r.Status);
        Assert.Contains("tolerance not attainable", r.Message);
        Assert.DoesNotContain("not positive definite", r.Message);
        Assert.Equal(2, r.Iterations);
    }

    [Fact]
    public void InverseOperatorAppliesTheSolverAndThrowsWhenItFails()
    {
        var m = SpectralMatrix.Create(Geometric(30, 2), seed: 22);
        var inv = new ConjugateGradient<double>(m.Operator(), options: new() { Tolerance = 1e-13, Damping = 0.1 }).AsInverseOperator();
        Assert.True(inv.IsPositiveSemiDefinite);
        var b = GaussianMatrix(30, 2, 23);
        var y = inv.MatMat(Tensor<double>.FromArray(b, 30, 2));
        var b0 = Enumerable.Range(0, 30).Select(i => b[i * 2]).ToArray();
        Assert.True(RelativeError(DenseSolve(m.A, 30, b0, 0.1), Enumerable.Range(0, 30).Select(i => y.Span[i * 2]).ToArray()) < 1e-10);
        var failing = new ConjugateGradient<double>(m.Operator(), options: new() { MaxIterations = 1 }).AsInverseOperator();
        Assert.Throws<SolveFailedException>(() => failing.MatVec(Vec(b0)));
    }
}
